"""ExCEL's text-semantic enrichment (TSE) and CLIP feature surgery (building blocks).

"Exploring CLIP's Dense Knowledge for Weakly Supervised Semantic Segmentation" (Yang et al.,
CVPR'25; official code zwyang6/ExCEL). TSE turns each foreground class's text embedding into an
attribute-enriched one:

1. a language model wrote a few descriptions per class (data: a JSON file, see
   :func:`load_class_descriptions`); their normalised CLIP text embeddings are clustered with
   k-means into ``M`` attribute centres (the *attribute bank*, (C, M));
2. each class embedding ``t`` (K, C) attends over the bank: logits ``t @ bank``, the lowest
   ``1 - top_fraction`` of them masked, softmax;
3. enriched ``= softmax(...) @ bank.T + t``; background texts are appended unchanged and every
   row is L2-normalised.

Feature surgery (CLIP Surgery, as ExCEL calls it) scores patch tokens against texts with the
class-redundant part of the element-wise products removed, then min-max normalises each
class map over the tokens.

The official repository has no licence, so its GPT-4 descriptions are not shipped: give yours
in the format of :func:`load_class_descriptions`.
"""
from __future__ import annotations

import json
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

#: k-means settings of the authors' environment (scikit-learn 1.0.2 defaults: 10 restarts,
#: Elkan's algorithm), with the official ``random_state=0``.
OFFICIAL_KMEANS = dict(n_init=10, algorithm='elkan')


class DescriptionsError(ValueError):
    """A class-description file is unreadable or malformed."""


def load_class_descriptions(path: str, classnames: Sequence[str] | None = None
                            ) -> dict[str, list[str]]:
    """``{class name: [description, ...]}`` from a JSON object in that shape (the official
    ``descriptors_*.json`` layout; descriptions are lowercased as the official code does).

    Args:
        path: the JSON file.
        classnames: when given, the file must describe exactly these classes; the result
            follows their order.
    """
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        raise DescriptionsError(f'cannot read class descriptions {path}: {error}') from error
    if not isinstance(data, dict) or not data or not all(
            isinstance(v, list) and v and all(isinstance(s, str) for s in v)
            for v in data.values()):
        raise DescriptionsError(f'{path}: expected {{"class": ["description", ...], ...}} '
                                'with at least one description per class')
    if classnames is not None:
        missing = [c for c in classnames if c not in data]
        if missing:
            raise DescriptionsError(f'{path} describes no {missing[:5]}')
        data = {c: data[c] for c in classnames}
    return {name: [s.lower() for s in sentences] for name, sentences in data.items()}


def cluster_attribute_bank(description_embeddings: Sequence[Tensor], num_clusters: int,
                           seed: int = 0, kmeans_options: dict | None = None
                           ) -> tuple[Tensor, Tensor]:
    """k-means attribute bank of the descriptions.

    Args:
        description_embeddings: per class, its (n_k, C) normalised description embeddings.
        num_clusters: ``M`` (official: 112 for VOC, 224 for COCO).
        kmeans_options: scikit-learn ``KMeans`` options (default :data:`OFFICIAL_KMEANS`).

    Returns:
        ((C, M) cluster centres, (K, M) 0/1 flags of the clusters each class's descriptions
        fall in).
    """
    try:
        from sklearn.cluster import KMeans
    except ImportError as error:
        raise ImportError('the ExCEL attribute bank needs scikit-learn: pip install '
                          '"ovperception[excel]"') from error
    stacked = torch.cat([e.float().cpu() for e in description_embeddings]).numpy()
    options = OFFICIAL_KMEANS if kmeans_options is None else kmeans_options
    kmeans = KMeans(n_clusters=num_clusters, random_state=seed, **options).fit(stacked)
    labels = torch.as_tensor(kmeans.labels_)
    owners = torch.cat([torch.full((len(e),), k) for k, e in enumerate(description_embeddings)])
    flags = torch.zeros(len(description_embeddings), num_clusters)
    flags[owners, labels] = 1.0
    return torch.as_tensor(kmeans.cluster_centers_).T.contiguous(), flags


def enrich_text(foreground: Tensor, background: Tensor, bank: Tensor,
                top_fraction: float = 0.9) -> Tensor:
    """(K + B, C) normalised texts: the K foreground rows enriched with the attribute bank,
    the B background rows as given.

    Args:
        foreground: (K, C) normalised class text embeddings.
        background: (B, C) normalised background text embeddings.
        bank: (C, M) attribute centres.
        top_fraction: share of the bank each class attends to (official 0.9).
    """
    bank = bank.to(foreground)
    logits = foreground @ bank
    masked = int((1 - top_fraction) * bank.shape[1])
    if masked:
        lowest = logits.argsort(dim=-1, descending=True)[:, -masked:]
        logits = logits.scatter(-1, lowest, float('-inf'))
    enriched = logits.softmax(-1) @ bank.T + foreground
    return F.normalize(torch.cat([enriched, background.to(enriched)]), dim=-1)


def feature_surgery(tokens: Tensor, texts: Tensor) -> Tensor:
    """(B, N, K) token-class maps in [0, 1] (min-max over the N tokens) of CLIP Surgery.

    Args:
        tokens: (B, N, C) normalised tokens, class token first.
        texts: (K, C) normalised text embeddings.
    """
    weights = (2 * tokens[:, :1] @ texts.T).softmax(-1)            # (B, 1, K)
    weights = weights / weights.mean(-1, keepdim=True)
    products = tokens[:, :, None] * texts[None, None] * weights[..., None]   # (B, N, K, C)
    similarity = (products - products.mean(2, keepdim=True)).sum(-1)
    low = similarity.min(1, keepdim=True).values
    high = similarity.max(1, keepdim=True).values
    return (similarity - low) / (high - low)
