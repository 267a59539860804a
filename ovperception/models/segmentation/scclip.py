"""SC-CLIP (Bai et al., 2025): self-calibrated CLIP dense features, training-free, CLIP only.

For the N patch tokens of one window, with ``x_i`` the tokens leaving block ``i`` (0-based, class
token first) of an L-block ViT:

1. **Anomaly tokens.** The patches of ``x_{L-2}`` whose local outlier factor (k nearest
   neighbours in squared Euclidean distance) is above its ``1 - contamination`` quantile are
   replaced by the mean of their non-anomalous 3 x 3 grid neighbours.
2. **Mid-layer self-calibration.** ``S`` = cosine similarity of the (repaired) patches of
   ``x_{pre}``; the repaired deep patches are averaged with the weights ``S * [S >= beta]``
   (rows normalised), then the last block's attention is replaced by

       A = (softmax(mask(temperature * (S - mean(S)))) + softmax(k k^T / sqrt(d))) / 2

   (``mask``: negative entries to -inf; no residual, no FFN) and ``cls_residual`` times the class
   token of ``x_{L-2}`` is added; the result is averaged again with ``S' * [S' >= beta]``, ``S'``
   the cosine similarity of ``x_{post}``.
3. **Multi-level fusion.** The sum of ``x_i`` for ``i`` in ``fusion_layers`` goes through the
   same calibrated last attention (+ ``cls_residual`` times its class token) and the ``S'``
   averaging, and is added.

The tokens then go through CLIP's ``ln_post`` and projection. Every statistic (the outlier
quantile, ``mean(S)``) is taken per window, as the official code (one window per forward) does,
so batching windows does not change the result.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (block_output_projection, block_qkv,
                                                 self_similarity_softmax,
                                                 tokens_to_map)
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.registry import MODELS

#: Elements of one chunk of the pairwise-difference tensor in :func:`local_outlier_factor`.
_DISTANCE_CHUNK = 1 << 24


def squared_distances(points: Tensor) -> Tensor:
    """(N, D) -> (N, N) squared Euclidean distances as ``||p_i - p_j||^2`` of the differences
    (not the ``a^2 + b^2 - 2ab`` expansion), computed in row chunks to bound memory."""
    n, dim = points.shape
    rows = max(1, _DISTANCE_CHUNK // max(1, n * dim))
    return torch.cat([torch.norm(points[i:i + rows, None] - points[None], dim=2, p=2) ** 2
                      for i in range(0, n, rows)])


def local_outlier_factor(points: Tensor, n_neighbors: int = 30,
                         contamination: float = 0.05) -> tuple[Tensor, Tensor]:
    """SC-CLIP's local outlier factor of each point among its k nearest neighbours.

    ``reach_ij = max(d_ij, d_i^(k))`` with ``d`` squared distances and ``d_i^(k)`` the
    distance of point ``i`` to its k-th neighbour (SC-CLIP's variant: the point's own
    k-distance); ``lrd_i = k / mean_j reach_ij``; ``lof_i = mean_j lrd_j / lrd_i``.

    Args:
        points: (N, D) tokens of one window.
        n_neighbors: k (at most N - 1 are used).
        contamination: expected fraction of outliers; points above the ``1 - contamination``
            quantile of the scores are outliers.

    Returns:
        ``(outliers (N,) bool, scores (N,))``.
    """
    if points.shape[0] < 2:
        return torch.zeros(points.shape[0], dtype=torch.bool, device=points.device), \
            torch.ones(points.shape[0], device=points.device)
    k = min(int(n_neighbors), points.shape[0] - 1)
    distances, indices = torch.topk(squared_distances(points), k=k + 1, largest=False)
    distances, indices = distances[:, 1:], indices[:, 1:]  # drop the point itself
    reach = torch.maximum(distances, distances[:, -1:].expand_as(distances))
    density = k / torch.nan_to_num(reach.mean(dim=1), nan=1e-6)
    scores = (density[indices] / density[:, None]).mean(dim=1)
    threshold = torch.quantile(scores.float(), 1.0 - contamination)
    return scores > threshold, scores


def repair_anomalies(maps: Tensor, anomalies: Tensor) -> Tensor:
    """Replace anomalous grid cells by the mean of their normal 3 x 3 neighbours.

    Args:
        maps: (B, C, h, w) tokens on the patch grid.
        anomalies: (B, h, w) bool; cells without a normal neighbour are kept.

    Returns:
        (B, C, h, w).
    """
    normal = (~anomalies).to(maps.dtype)[:, None]  # (B, 1, h, w)
    kernel = torch.ones(1, 1, 3, 3, dtype=maps.dtype, device=maps.device)
    kernel[..., 1, 1] = 0
    channels = maps.shape[1]
    sums = F.conv2d(F.pad(maps * normal, (1, 1, 1, 1)), kernel.expand(channels, 1, 3, 3),
                    groups=channels)
    counts = F.conv2d(F.pad(normal, (1, 1, 1, 1)), kernel)
    update = anomalies[:, None].to(maps.dtype) * (counts > 0).to(maps.dtype)
    return maps * (1 - update) + sums / counts.clamp(min=1) * update


def cosine_similarity_matrix(tokens: Tensor) -> Tensor:
    """(B, N, D) -> (B, N, N) cosine similarities."""
    normed = tokens / tokens.norm(dim=-1, keepdim=True)
    return normed @ normed.transpose(1, 2)


def thresholded_average(tokens: Tensor, similarity: Tensor, threshold: float) -> Tensor:
    """Average ``tokens`` with weights ``S * [S >= threshold]`` normalised per row.

    Args:
        tokens: (B, N, D).
        similarity: (B, N, N).

    Returns:
        (B, N, D).
    """
    weights = similarity.masked_fill(similarity < threshold, 0.0)
    weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-6)
    return weights @ tokens


def calibrated_attention(k: Tensor, v: Tensor, similarity: Tensor,
                         temperature: float = 3.0) -> Tensor:
    """``(softmax(mask(t (S - mean S))) + softmax(k k^T s)) / 2 @ v``, S shared by the heads.

    Args:
        k, v: (B, heads, N, head_dim) keys and values of the patch tokens.
        similarity: (B, N, N) mid-layer cosine similarity ``S`` (``mean S`` per window).
        temperature: factor ``t``.

    Returns:
        (B, heads, N, head_dim).
    """
    centred = (similarity - similarity.mean(dim=(1, 2), keepdim=True)) * temperature
    guided = centred.masked_fill(centred < 0, float('-inf')).softmax(dim=-1)
    attn = (guided[:, None].to(k.dtype) + self_similarity_softmax(k)) / 2
    return attn @ v


@MODELS.register_module()
class SCCLIPBackbone(CLIPWrapperBackbone):
    """A frozen CLIP ViT with SC-CLIP's self-calibrated dense path (see the module docstring).

    Follows the backbone contract like ``OpenCLIPBackbone`` (text, global embedding,
    statistics and grid placement are CLIP's), so ``OVModel`` and every head use it unchanged.

    Args:
        clip: an ``OpenCLIPBackbone`` ViT or its config (its ``pos_embed_resize`` and
            ``grid_remainder`` apply; SC-CLIP: ``'bicubic_offset'``, ``'drop'``).
        pre_adjust_layer: block whose output gives ``S`` (official ``pre_adjust_idx``; 0-based).
        post_adjust_layer: block whose output gives ``S'`` (``post_adjust_idx``).
        fusion_layers: ``(start, stop)``: blocks ``start .. stop - 1`` are summed
            (``multi_start_idx``, ``multi_end_idx``).
        cls_residual: weight of the class token added after the last attention (``res_cls``).
        similarity_threshold: ``beta`` of the thresholded averages.
        attention_temperature: factor of the centred ``S`` in the calibrated attention.
        lof_neighbors, lof_contamination: the anomaly-token detector.
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).
    """

    def __init__(self, clip: nn.Module | dict, *, pre_adjust_layer: int = 8,
                 post_adjust_layer: int = 3, fusion_layers: tuple[int, int] = (3, 10),
                 cls_residual: float = 0.3, similarity_threshold: float = 0.4,
                 attention_temperature: float = 3.0, lof_neighbors: int = 30,
                 lof_contamination: float = 0.05,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        super().__init__(clip, pretrained, method='SC-CLIP')
        depth = len(self.clip.visual.transformer.resblocks)
        start, stop = (int(v) for v in fusion_layers)
        for name, index in (('pre_adjust_layer', pre_adjust_layer),
                            ('post_adjust_layer', post_adjust_layer)):
            if not 0 <= int(index) < depth - 1:
                raise ValueError(f'SC-CLIP {name}={index}: must name one of blocks 0..{depth - 2} '
                                 f'of this {depth}-block ViT (the last block is replaced)')
        if not 0 <= start < stop <= depth - 1:
            raise ValueError(f'SC-CLIP fusion_layers={tuple(fusion_layers)}: need 0 <= start < '
                             f'stop <= {depth - 1} for this {depth}-block ViT')
        if not 0 < lof_contamination < 1 or lof_neighbors < 1:
            raise ValueError('SC-CLIP needs lof_neighbors >= 1 and 0 < lof_contamination < 1')
        self.pre_adjust_layer, self.post_adjust_layer = int(pre_adjust_layer), int(post_adjust_layer)
        self.fusion_layers = (start, stop)
        self.cls_residual = float(cls_residual)
        self.similarity_threshold = float(similarity_threshold)
        self.attention_temperature = float(attention_temperature)
        self.lof_neighbors, self.lof_contamination = int(lof_neighbors), float(lof_contamination)
        self.patch_size = self.clip.patch_size

    def anomalies(self, patches: Tensor) -> Tensor:
        """(B, N, D) patch tokens -> (B, N) anomaly mask (local outlier factor per window)."""
        return torch.stack([local_outlier_factor(tokens, self.lof_neighbors,
                                                 self.lof_contamination)[0]
                            for tokens in patches])

    def _last_attention(self, tokens: Tensor, cls_token: Tensor, similarity: Tensor) -> Tensor:
        """Calibrated last-block attention on (B, N, D) patches, + ``cls_residual`` * class."""
        last = self.clip.visual.transformer.resblocks[-1]
        _, k, v = block_qkv(last, tokens)
        attended = calibrated_attention(k, v, similarity, self.attention_temperature)
        return block_output_projection(last, attended) + self.cls_residual * cls_token

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) CLIP-normalised windows -> (B, C, h, w), not normalised."""
        with torch.no_grad():
            states, grid = self.clip.vit_hidden_states(images)
            outputs = states[1:]  # outputs[i]: tokens leaving block i
            deep = outputs[-1]
            anomalies = self.anomalies(deep[:, 1:]).view(-1, *grid)

            def repaired(tokens: Tensor) -> Tensor:
                maps = repair_anomalies(tokens_to_map(tokens, grid), anomalies)
                return maps.flatten(2).transpose(1, 2)

            similarity = cosine_similarity_matrix(repaired(outputs[self.pre_adjust_layer][:, 1:]))
            post = cosine_similarity_matrix(outputs[self.post_adjust_layer][:, 1:])
            x = thresholded_average(repaired(deep[:, 1:]), similarity, self.similarity_threshold)
            x = self._last_attention(x, deep[:, :1], similarity)
            x = thresholded_average(x, post, self.similarity_threshold)
            start, stop = self.fusion_layers
            fused = torch.stack(outputs[start:stop]).sum(dim=0)
            fused = self._last_attention(fused[:, 1:], fused[:, :1], similarity)
            x = x + thresholded_average(fused, post, self.similarity_threshold)
            return self.clip.project_patch_tokens(tokens_to_map(x, grid))
