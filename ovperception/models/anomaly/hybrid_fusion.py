"""AdaCLIP's hybrid semantic fusion (HSF): an image embedding from its most anomalous patches.

As released (``HybridSemanticFusion`` in caoyunkang/AdaCLIP ``method/adaclip.py``, the
"upgraded" variant its comment says differs from the paper's): the per-layer patch logits are
averaged over layers and soft-maxed; the ``5 * k`` patches with the highest anomalous
probability are kept; their tokens of all layers, concatenated along channels, are clustered
by k-means into ``k`` groups; each cluster's centre is the mean of its tokens over all layers;
the centres are averaged (each cluster weighs the same) and L2-normalised.

k-means is scikit-learn's ``KMeans(n_clusters=k, n_init='auto')`` as in the release; the
release draws its initialisation from NumPy's global generator (seeded once by its scripts, so
an image's result depends on its place in the test order); here each image is clustered with
``random_state=seed``, which makes a score a function of the image alone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: patches kept per cluster: the release keeps ``k_clusters * 5`` patches
PATCHES_PER_CLUSTER = 5


def _kmeans_labels(data: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    try:
        from sklearn.cluster import KMeans
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("AdaCLIP's hybrid semantic fusion needs scikit-learn: pip install "
                          "'ovperception[adaclip]' (or use_hsf=False)") from err
    return KMeans(n_clusters=clusters, n_init='auto', random_state=seed).fit_predict(data)


def hybrid_semantic_embedding(patch_tokens: Sequence[Tensor], layer_logits: Sequence[Tensor],
                              k_clusters: int, seed: int = 0) -> Tensor:
    """The HSF embedding of each image.

    Args:
        patch_tokens: per layer, (B, N, C) L2-normalised projected patch tokens.
        layer_logits: per layer, (B, N, 2) [normal, anomalous] patch logits.
        k_clusters: k-means clusters (20 in the release); fewer when an image has fewer
            patches (the release would fail there).
        seed: k-means ``random_state`` for every image.

    Returns:
        (B, C) L2-normalised embeddings (differentiable in the tokens; the clusters are not).
    """
    probability = torch.stack(list(layer_logits)).mean(dim=0).softmax(dim=-1)[..., 1]
    keep = min(probability.shape[1], k_clusters * PATCHES_PER_CLUSTER)
    top = probability.topk(keep, dim=1).indices
    selected = [tokens.gather(1, top.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
                for tokens in patch_tokens]
    stacked = torch.cat(selected, dim=2).detach().float().cpu().numpy()
    clusters = min(k_clusters, keep)
    embeddings = []
    for b in range(stacked.shape[0]):
        labels = torch.from_numpy(_kmeans_labels(stacked[b], clusters, seed)).to(top.device)
        centres = [torch.cat([tokens[b][labels == c] for tokens in selected]).mean(dim=0)
                   for c in range(clusters)]
        embeddings.append(torch.stack(centres).mean(dim=0))
    return F.normalize(torch.stack(embeddings), dim=1)
