"""CASS (Kim et al., CVPR 2025): spectral object-level context from DINO distilled into CLIP.

Training-free, as the official ``CASS_segmentor`` (MICV-yonsei/CASS) on NACLIP's reduced last
block. For each window:

1. ``CASSBackbone``: the window is mapped back to pixels with the released inverse (ImageNet
   statistics applied to a CLIP-normalised window, blue std 0.255 as released), truncated to
   uint8, resized to a ``min(H, W)`` square with PIL's bicubic, cropped to the DINO patch and
   passed through DINO ViT-B/8; the last block's keys (float16, as released) are resized
   bilinearly onto the CLIP patch grid and range-matched to CLIP's keys. Per head, the key-key
   graphs of DINO and CLIP are compared by the Wasserstein distance of their top-20 eigenvalues
   (L2- then L1-normalised); heads are matched by the Hungarian algorithm on ``1 - distance``;
   each matched DINO graph is approximated by a 10-component randomised SVD
   (``torch.svd_lowrank``, energy rule of the release), its singular values rescaled (not on
   VOC20 / Cityscapes), diagonal zeroed, range-matched to the CLIP graph and mixed in with
   weight ``10 * (1 - cost)``. NACLIP's Gaussian prior is added, softmax, values; no residual,
   no FFN (``reduced``). Its output: patch features and the window's CLIP class embedding.
2. ``CASSHead``: names are grouped by Ward clustering of their text embeddings (cosine
   distances cut at ``cluster_threshold``); per window and cluster, the name the image (or
   window) embedding favours is moved towards the mean of its two most similar patches
   (weight ``mean_vector_weight``). Patch-name cosines are mixed with the global image-name
   cosines (``global_weight``), stretched over the window, averaged over windows, then as
   SCLIP: resized to the original image, optionally refined there (``score_refiner``, the
   release's PAMR, off in its evaluation), softmax at logit scale 40, maximum over synonyms,
   probability threshold; ``seg_logits`` are these probabilities, after the refiner as in the
   release.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import squareform
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (block_output_projection, block_qkv,
                                                  gaussian_neighbourhood_bias, tokens_to_map)
from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.inference import stitch_lazily
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.models.segmentation.similarity import DenseSimilarityHead
from ovperception.models.stitched import DenseOutput, StitchedWindows, as_stitched
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

#: The release's inverse of its input normalisation (ImageNet statistics, blue std 0.255).
INVERSE_MEAN = (0.485, 0.456, 0.406)
INVERSE_STD = (0.229, 0.224, 0.255)
#: DINO's input normalisation of the release (torchvision ``Normalize`` on 0..1 pixels).
DINO_MEAN = (0.485, 0.456, 0.406)
DINO_STD = (0.229, 0.224, 0.225)
GLOBAL_SOURCES = ('image', 'window')


def released_inverse_pixels(window: Tensor) -> np.ndarray:
    """(3, H, W) normalised window -> (H, W, 3) uint8 as the release rebuilds it (values
    truncated; out-of-range values, which the release wraps, are clipped)."""
    # torchvision's Normalize(mean=-m/s, std=1/s), the release's exact arithmetic
    shift = torch.tensor([-m / s for m, s in zip(INVERSE_MEAN, INVERSE_STD)]).view(3, 1, 1)
    scale = torch.tensor([1 / s for s in INVERSE_STD]).view(3, 1, 1)
    rgb = ((window.float().cpu() - shift) / scale).permute(1, 2, 0).numpy() * 255
    return np.clip(rgb, 0, 255).astype(np.uint8)


def graph_spectrum(graphs: Tensor, k_eigen: int) -> Tensor:
    """(heads, P, P) symmetric graphs -> (heads, k) largest eigenvalues, L2-normalised (float64)."""
    values = torch.linalg.eigvalsh(graphs.double()).flip(-1)[:, :k_eigen]
    return F.normalize(values, p=2, dim=1)


def head_matching_cost(dino_spectrum: Tensor, clip_spectrum: Tensor) -> Tensor:
    """(heads, heads) ``1 - W1`` of the L1-normalised spectra (row: DINO head, column: CLIP)."""
    dino = torch.sort(F.normalize(dino_spectrum, p=1, dim=-1), dim=-1).values
    clip = torch.sort(F.normalize(clip_spectrum, p=1, dim=-1), dim=-1).values
    distance = (dino[:, None] - clip[None]).abs().sum(-1)
    return (1 - distance).float()


def low_rank_graph(graph: Tensor, energy: float = 0.95, first_rank: int = 10,
                   rank_step: int = 5) -> tuple[Tensor, Tensor, Tensor]:
    """Randomised SVD of a (P, P) graph as released: ranks 10, 15, ... until the singular
    values of one call hold ``energy`` of their sum (the first call always does).

    Returns:
        u (P, q), s (q,), v (P, q) in float64 (``torch.svd_lowrank``, global generator).
    """
    max_rank = min(graph.shape)
    rank = first_rank
    u = s = v = None
    while rank <= max_rank:
        u, s, v = torch.svd_lowrank(graph.double(), q=rank)
        if bool(((torch.cumsum(s, 0) / s.sum()) >= energy).any()):
            break
        rank += rank_step
    if u is None:
        raise ValueError(f'CASS needs windows of at least {first_rank} patches, got {max_rank}')
    return u, s, v


def rescale_singular_values(s: Tensor) -> Tensor:
    """The release's stretch of the singular values to [0.5 min, 1.5 max]."""
    low, high = s.min(), s.max()
    return (s - low) / (high - low) * (1.5 * high - 0.5 * low) + 0.5 * low


def match_range(source: Tensor, target: Tensor) -> Tensor:
    """``source`` min-max rescaled onto the value range of ``target``."""
    low, high = source.min(), source.max()
    return (source - low) / (high - low) * (target.max() - target.min()) + target.min()


def spectral_key_graph(clip_keys: Tensor, dino_keys: Tensor, *, k_eigen: int = 20,
                       dino_weight: float = 10.0, energy: float = 0.95,
                       stretch_singular_values: bool = True) -> Tensor:
    """CASS's attention logits of one window (before the Gaussian prior and softmax).

    Args:
        clip_keys: (heads, P, hd) CLIP keys of the patches (float32).
        dino_keys: (heads, P, hd) DINO keys on the same grid, range-matched (float16, as
            released).
        k_eigen, dino_weight, energy: the release's 20, 10 and 0.95.
        stretch_singular_values: the release's rescaling (off for VOC20 and Cityscapes).

    Returns:
        (heads, P, P) float32 mixed key-key graphs.
    """
    heads, _, head_dim = clip_keys.shape
    scale = head_dim ** -0.5
    clip_graph = torch.bmm(clip_keys, clip_keys.transpose(1, 2)) * scale
    dino_graph = torch.bmm(dino_keys, dino_keys.transpose(1, 2)) * scale
    cost = head_matching_cost(graph_spectrum(dino_graph, k_eigen),
                              graph_spectrum(clip_graph, k_eigen))
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    combined = torch.zeros_like(clip_graph)
    for index, (i, j) in enumerate(zip(rows.tolist(), cols.tolist())):
        weight = 1 - cost[i, j]
        u, s, v = low_rank_graph(dino_graph[j], energy)
        if stretch_singular_values:
            s = rescale_singular_values(s)
        approx = u @ torch.diag(s) @ v.T
        approx.fill_diagonal_(0)
        approx = match_range(approx, clip_graph[i])
        combined[index] = (weight * dino_weight * approx + clip_graph[i]) \
            / (weight * dino_weight + 1)
    return combined


@MODELS.register_module()
class CASSBackbone(CLIPWrapperBackbone):
    """CLIP's last block replaced by CASS's spectral DINO-guided attention (see module doc).

    Args:
        clip: an ``OpenCLIPBackbone`` ViT (CASS: OpenAI ViT-B/16, ``pos_embed_resize=
            'bicubic_offset'``, ``grid_remainder='drop'``) or its config.
        dino: a ``DINOEncoder`` (CASS: DINO ViT-B/8, ``pos_embed_resize='bicubic_offset'``) with
            as many heads and channels as CLIP's last block.
        gaussian_std: NACLIP's prior (5).
        k_eigen, dino_weight, energy: spectral settings (20, 10, 0.95).
        stretch_singular_values: rescale the low-rank DINO spectrum (off on VOC20, Cityscapes).
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).

    ``dense_features`` returns (B, 2C, h, w): the C patch features, then the window's CLIP
    class embedding (standard last block) repeated over the grid (floor grid).
    """

    def __init__(self, clip: nn.Module | dict, dino: nn.Module | dict, *,
                 gaussian_std: float = 5.0, k_eigen: int = 20, dino_weight: float = 10.0,
                 energy: float = 0.95, stretch_singular_values: bool = True,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        super().__init__(clip, pretrained, method='CASS')
        self.dino = dino if isinstance(dino, nn.Module) else MODELS.build(dino)
        last = self.clip.visual.transformer.resblocks[-1].attn
        if self.dino.num_heads != last.num_heads or self.dino.embed_dim != last.embed_dim:
            raise ValueError(f'CASS pairs DINO and CLIP heads one to one: DINO has '
                             f'{self.dino.num_heads} heads of width {self.dino.embed_dim}, CLIP '
                             f'{last.num_heads} of {last.embed_dim}')
        if gaussian_std <= 0 or k_eigen < 1 or not 0 < energy <= 1:
            raise ValueError('gaussian_std and k_eigen must be positive, energy in (0, 1]')
        self.gaussian_std = float(gaussian_std)
        self.k_eigen, self.dino_weight, self.energy = int(k_eigen), float(dino_weight), \
            float(energy)
        self.stretch_singular_values = bool(stretch_singular_values)

    @property
    def grid_placement(self) -> tuple[None, bool]:
        """The floor grid is stretched over the window (the release's interpolation)."""
        return None, False

    def dino_keys(self, window: Tensor, grid: tuple[int, int]) -> Tensor:
        """(3, H, W) normalised window -> (heads, h*w, hd) float16 DINO keys on CLIP's grid."""
        pixels = released_inverse_pixels(window)
        side = min(pixels.shape[:2])
        square = np.asarray(Image.fromarray(pixels).resize((side, side), Image.BICUBIC))
        cut = side - side % self.dino.patch_size
        rgb = torch.from_numpy(square[:cut, :cut].copy()).permute(2, 0, 1).float().div(255)
        mean = torch.tensor(DINO_MEAN).view(3, 1, 1)
        std = torch.tensor(DINO_STD).view(3, 1, 1)
        normalized = ((rgb - mean) / std)[None].to(window.device)  # torchvision's arithmetic
        out = self.dino(normalized, with_qkv=True, imagenet_normalized=True)
        keys = out.k[0, :, out.num_prefix_tokens:].half()  # (heads, T, hd)
        heads, _, head_dim = keys.shape
        maps = keys.permute(0, 2, 1).reshape(heads, head_dim, *out.grid)
        maps = F.interpolate(maps, size=grid, mode='bilinear', align_corners=False)
        return maps.reshape(heads, head_dim, -1).permute(0, 2, 1)

    def _attention(self, q: Tensor, k: Tensor, v: Tensor, windows: Tensor,
                   grid: tuple[int, int]) -> Tensor:
        """(B, heads, 1 + P, hd) q, k, v -> (B, heads, P, hd) attended patch values."""
        keys, values = k[:, :, 1:], v[:, :, 1:]
        prior = gaussian_neighbourhood_bias(grid, self.gaussian_std, num_prefix=0,
                                            device=k.device, dtype=k.dtype)
        out = []
        for index in range(keys.shape[0]):
            clip_keys = keys[index]
            dino = match_range(self.dino_keys(windows[index], grid),
                               clip_keys).to(torch.float16)
            logits = spectral_key_graph(clip_keys, dino, k_eigen=self.k_eigen,
                                        dino_weight=self.dino_weight, energy=self.energy,
                                        stretch_singular_values=self.stretch_singular_values)
            out.append(torch.softmax(logits + prior, dim=-1) @ values[index])
        return torch.stack(out)

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised windows -> (B, 2C, floor(H/p), floor(W/p))."""
        with torch.no_grad():
            states, grid = self.clip.vit_hidden_states(images)
            block = self.clip.visual.transformer.resblocks[-1]
            x = states[-1]
            global_embedding = self.clip._vit_pooled(self.clip._run_blocks(x, [block]))
            q, k, v = block_qkv(block, x)
            tokens = block_output_projection(block, self._attention(q, k, v, images, grid))
            patches = self.clip.project_patch_tokens(tokens_to_map(tokens, grid))
        repeated = global_embedding[:, :, None, None].expand(-1, -1, *patches.shape[-2:])
        return torch.cat([patches, repeated.to(patches.dtype)], dim=1)


def ward_clusters(embeddings: Tensor, threshold: float) -> np.ndarray:
    """(N,) cluster ids 0..n-1 of (N, C) normalised text embeddings: Ward linkage of their
    cosine distances, cut at ``threshold`` (the release's ``fcluster(..., 'distance')``)."""
    if len(embeddings) < 2:
        return np.zeros(len(embeddings), dtype=np.int64)
    feats = embeddings.float().cpu().numpy()
    distances = np.clip(1.0 - feats @ feats.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    distances = (distances + distances.T) / 2
    tree = linkage(squareform(distances, checks=False), method='ward')
    return fcluster(tree, t=threshold, criterion='distance') - 1


def adjusted_text(patches: Tensor, global_scores: Tensor, text: Tensor, clusters: np.ndarray,
                  weight: float, top_k: int = 2) -> Tensor:
    """The release's ``hierarchical_prompt`` for one window.

    Args:
        patches: (P, C) normalised patch features.
        global_scores: (N,) image-name cosines.
        text: (N, C) normalised name embeddings.
        clusters: (N,) cluster id of every name.
        weight: ``mean_vector_weight``.

    Returns:
        (N, C): per cluster, the name with the highest global score moved towards the mean of
        its ``top_k`` most similar patches; the other names unchanged.
    """
    adjusted = text.clone()
    scores = global_scores.cpu().numpy()
    for cluster in range(int(clusters.max()) + 1):
        members = np.where(clusters == cluster)[0]
        name = int(members[np.argmax(scores[members])])
        embedding = F.normalize(text[name], dim=0)
        top = torch.topk(F.normalize(patches, dim=1) @ embedding, min(top_k, len(patches))).indices
        mean = F.normalize(patches[top].mean(dim=0), dim=0)
        adjusted[name] = F.normalize((1 - weight) * embedding + weight * mean, dim=0)
    return adjusted


@MODELS.register_module()
class CASSHead(DenseSimilarityHead):
    """CASS's object-presence text adjustment and SCLIP's post-processing (see module doc).

    Args:
        global_weight: weight of the global image-name cosines (``global_semantics_weight``).
        mean_vector_weight: pull of the adjusted names towards their patches.
        cluster_threshold: Ward distance cutting the name tree (``h_threshold``).
        global_source: ``'image'`` (the whole working image through plain CLIP, as released
            for every dataset but Cityscapes) or ``'window'`` (each window's own class
            embedding: Cityscapes, and whole-image inference).
        **kwargs: :class:`DenseSimilarityHead` (logit scale 40, probability threshold,
            background index, ``return_logits``: probabilities at ``ori_shape`` of the map the
            labels come from, after the ``score_refiner`` when there is one).
    """

    takes_stitched_windows = True  # predict() adjusts the text per window, then stitches

    def __init__(self, *, global_weight: float = 0.0, mean_vector_weight: float = 0.0,
                 cluster_threshold: float = 0.0, global_source: str = 'image',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if global_source not in GLOBAL_SOURCES:
            raise ValueError(f'global_source must be one of {GLOBAL_SOURCES}, got '
                             f'{global_source!r}')
        if not 0 <= global_weight <= 1 or not 0 <= mean_vector_weight <= 1:
            raise ValueError('global_weight and mean_vector_weight must lie in [0, 1]')
        self.global_weight = float(global_weight)
        self.mean_vector_weight = float(mean_vector_weight)
        self.cluster_threshold = float(cluster_threshold)
        self.global_source = global_source
        self._encode_image: Callable[[Tensor], Tensor] | None = None
        self._clusters: tuple[Tensor, np.ndarray] | None = None

    @property
    def uses_images(self) -> bool:
        """The whole image's CLIP embedding is needed for ``global_source='image'``."""
        return self.global_source == 'image' or self.score_refiner is not None

    def bind_image_encoder(self, encode: Callable[[Tensor], Tensor]) -> None:
        """The model's (n, 3, H, W) 0..255 RGB -> (n, C) normalised CLIP embedding."""
        self._encode_image = encode

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """Window features pass through; the text-dependent part runs in :meth:`predict`."""
        return feats

    def clusters(self, text: TextEmbeddings) -> np.ndarray:
        """(N,) Ward cluster ids of the vocabulary's names (once per vocabulary)."""
        if self._clusters is None or self._clusters[0] is not text.embeddings:
            self._clusters = (text.embeddings,
                              ward_clusters(text.embeddings, self.cluster_threshold))
        return self._clusters[1]

    def window_cosines(self, features: Tensor, text: TextEmbeddings,
                       image_embedding: Tensor | None) -> Tensor:
        """(n, 2C, h, w) window features -> (n, N, h, w) mixed name cosines."""
        channels = text.embeddings.shape[1]
        embeddings = text.embeddings.to(features.device).float()
        clusters = self.clusters(text)
        out = []
        for window in features.float():
            patches = F.normalize(window[:channels].flatten(1).T, dim=1)  # (P, C)
            source = image_embedding if image_embedding is not None \
                else window[channels:, 0, 0]
            global_scores = F.normalize(source.float(), dim=0) @ embeddings.T  # (N,)
            names = adjusted_text(patches, global_scores, embeddings, clusters,
                                  self.mean_vector_weight)
            cosine = (patches @ names.T) * (1 - self.global_weight) \
                + global_scores[None] * self.global_weight
            out.append(cosine.T.reshape(-1, *window.shape[-2:]))
        return torch.stack(out)

    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Label maps at each sample's ``ori_shape`` (see the class docstring)."""
        if self.uses_images and (images is None or len(images) != len(outputs)):
            raise ValueError('CASS with global_source="image" needs one image per output')
        maps = []
        for index, output in enumerate(outputs):
            stitched = as_stitched(output)
            image_embedding = None
            if self.global_source == 'image':
                if self._encode_image is None:
                    raise RuntimeError('CASSHead needs the model image encoder '
                                       '(bind_image_encoder; OVModel binds it)')
                image_embedding = self._encode_image(images[index][None].float())[0]
            cosines = self.window_cosines(stitched.outputs, text, image_embedding)
            maps.append(stitch_lazily(cosines, stitched.windows, stitched.image_size, None,
                                      False))
        return super().predict(maps, text, data_samples, images)

    def stored_scores(self, cosine: StitchedWindows, text: TextEmbeddings,
                      sample: OVDataSample) -> Tensor:
        """(K', H, W) class probabilities at ``ori_shape`` (as released: the whole map
        resized there, then the softmax), made from the map the labels come from: after the
        ``score_refiner`` (PAMR) when there is one, as the release's ``seg_logits``. With
        ``logits_max_side``, at ``ori_shape`` shrunk to it (see :meth:`logits_size`)."""
        size = self.logits_size(tuple(sample.metainfo.get('ori_shape', cosine.image_size))[:2])
        resized = F.interpolate(cosine.dense().float()[None], size=size, mode='bilinear',
                                align_corners=False)[0]
        return self.class_probabilities(resized, text)
