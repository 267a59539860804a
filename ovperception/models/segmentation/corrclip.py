"""CorrCLIP (Zhang et al., ICCV 2025): CLIP patch correlations rebuilt from region masks and DINO.

Training-free. Each window gets, besides the image crop, the matching crop of a per-image map of
class-agnostic region ids (SAM 2 automatic masks or pre-generated masks, see
:mod:`ovperception.models.refiners.region_masks`); id 0 (the smallest id) is "unsegmented".
With the crop padded (centred) to a multiple of ``pad_multiple`` (official 56; padding gets
its own region :data:`PAD_REGION`):

1. DINO (last block) ``q + k`` per patch, L2-normalised: features ``f`` on the DINO grid.
2. Mask merging: regions (ids nearest-resized to the DINO grid) whose mean ``f`` are close
   (cosine distance to the most similar pair ``<= merge_eps``, single linkage: DBSCAN with
   ``min_samples=1``) become one region.
3. Scope and value reconstruction: ``A = softmax_j(tau * f_i . f_j)`` restricted to pairs inside
   one region; unsegmented patches may attend to (and be attended by) any patch whose
   similarity exceeds the mean similarity.
4. CLIP runs its blocks once with one extra copy of the class token per region (mask class
   tokens), each attending only to the class token and the patches of its region
   (semantic branch); the patch tokens run unchanged.
5. Last block: the values of the main tokens and of the mean of the ``num_spatial`` blocks
   before the last but one (spatial branch), bilinearly resized to the DINO grid, are mixed by
   ``A`` (no residual, no FFN); the last block's output of each region's class token is spread
   over its patches. Output: ``proj(ln_post(main) + alpha ln_post(spatial) + beta
   ln_post(semantic))`` on the DINO grid.

The label-map correction (each region takes its majority label) is
:class:`~ovperception.models.refiners.region_masks.RegionVoteRefiner`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (block_output_projection, block_qkv,
                                                 merge_heads, split_heads, tokens_to_map)
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.models.refiners.proxyclip import cut_to_patches, pad_window, resample_tokens
from ovperception.registry import MODELS

#: Region id of the padding around a window (official: ``value=10000``).
PAD_REGION = 10000
#: Merged regions get ids ``MERGED_BASE + cluster`` (official; the first cluster shares the
#: padding's id, as in the official code).
MERGED_BASE = 10000


def official_num_spatial(num_layers: int) -> int:
    """Blocks averaged by the spatial branch (official: 5 for 12 blocks, 12 for 24, 28 for 32,
    else ``num_layers - 4``)."""
    return {12: 5, 24: 12, 32: 28}.get(num_layers, num_layers - 4)


def single_linkage_clusters(distance: Tensor, eps: float) -> Tensor:
    """Connected components of the graph ``distance <= eps`` (DBSCAN, ``min_samples=1``).

    Args:
        distance: (n, n) symmetric distances.

    Returns:
        (n,) cluster index per point, numbered in order of each cluster's first point (as
        scikit-learn's DBSCAN numbers them).
    """
    n = distance.shape[0]
    linked = (distance <= eps) | torch.eye(n, dtype=torch.bool, device=distance.device)
    labels = torch.arange(n, device=distance.device)
    while True:  # every point takes the smallest index reachable in one step, until stable
        spread = torch.where(linked, labels[None, :], n).amin(dim=1)
        if torch.equal(spread, labels):
            break
        labels = spread
    _, numbered = torch.unique(labels, return_inverse=True)  # by smallest member index
    return numbered


def merge_similar_regions(ids: Tensor, feats: Tensor, eps: float) -> Tensor:
    """Mask merging: regions whose mean features are close get one id.

    Args:
        ids: (h, w) region ids on the feature grid; the smallest id (unsegmented) is kept.
        feats: (h * w, D) L2-normalised features.
        eps: DBSCAN radius on ``max(sim) - sim`` (official 0.2).

    Returns:
        (h, w) ids: the smallest id kept, the others ``MERGED_BASE + cluster``. With fewer than
        three ids the map is returned unchanged (official).
    """
    values, inverse = torch.unique(ids, return_inverse=True)
    if values.numel() <= 2:
        return ids
    flat = inverse.flatten()
    sums = torch.zeros(values.numel(), feats.shape[1], dtype=feats.dtype, device=feats.device)
    sums.index_add_(0, flat, feats)
    counts = torch.bincount(flat, minlength=values.numel()).to(feats.dtype)
    means = F.normalize(sums / counts[:, None], dim=1)[1:]
    sim = means @ means.T
    clusters = single_linkage_clusters(sim.max() - sim, eps)
    new_values = torch.cat([values[:1], clusters.to(values.dtype) + MERGED_BASE])
    return new_values[inverse]


def region_scoped_affinity(feats: Tensor, ids: Tensor, tau: float) -> Tensor:
    """Attention restricted to regions (scope reconstruction) with DINO values.

    Args:
        feats: (N, D) L2-normalised features.
        ids: (N,) region ids; the smallest id marks unsegmented patches.
        tau: temperature (official 4).

    Returns:
        (N, N) row-stochastic attention. A patch always keeps itself (official: only when its
        self-similarity exceeds the mean, which holds unless the crop is uniform).
    """
    sim = feats @ feats.T
    unsegmented = ids == ids.min()
    allowed = (ids[:, None] == ids[None, :]) & ~unsegmented[:, None]
    allowed |= (unsegmented[:, None] | unsegmented[None, :]) & (sim > sim.mean())
    allowed |= torch.eye(len(ids), dtype=torch.bool, device=ids.device)
    return torch.softmax(sim.masked_fill(~allowed, float('-inf')) * tau, dim=-1)


def region_token_mask(region_masks: Tensor) -> Tensor:
    """Additive attention mask of ``[R region class tokens, class token, T patches]``.

    Args:
        region_masks: (R, T) bool, patch t in region r.

    Returns:
        (R + 1 + T, R + 1 + T) float mask (0 allowed, -inf not): the class and patch tokens see
        each other only; region class token r sees the class token and the patches of r.
    """
    count, patches = region_masks.shape
    size = count + 1 + patches
    allowed = torch.zeros(size, size, dtype=torch.bool, device=region_masks.device)
    allowed[count:, count:] = True
    allowed[:count, count] = True
    allowed[:count, count + 1:] = region_masks
    return torch.zeros(size, size, device=region_masks.device).masked_fill(~allowed,
                                                                           float('-inf'))


def nearest_ids(ids: Tensor, size: tuple[int, int]) -> Tensor:
    """(h, w) integer ids nearest-resized to ``size`` (torch's ``'nearest'``, as the official)."""
    return F.interpolate(ids[None, None].float(), size=tuple(size), mode='nearest')[0, 0].long()


@MODELS.register_module()
class CorrCLIPBackbone(CLIPWrapperBackbone):
    """CLIP ViT + DINO with region-restricted correlations (see the module docstring).

    Follows the backbone contract (text, global embedding and statistics are CLIP's) and is
    region-conditioned: ``OVModel`` asks :meth:`region_ids` for each image's region map and
    passes each window's crop of it to :meth:`dense_features`.

    Args:
        clip: an ``OpenCLIPBackbone`` ViT or its config (official: MetaCLIP ViT-B/16 QuickGELU).
        dino: a ``DINOEncoder`` or its config (official: DINO ViT-B/8).
        regions: the region source: a ``SAM2MaskGenerator`` / ``PrecomputedRegionMasks`` (or
            config) with ``region_ids(image, sample) -> (H, W)`` at the sample's ``ori_shape``.
        alpha, beta: weights of the spatial and semantic branches (official 1.0, 0.5).
        tau: temperature of the DINO attention (official 4).
        merge_eps: DBSCAN radius of mask merging (official 0.2).
        num_spatial: blocks averaged by the spatial branch (None: the official rule,
            :func:`official_num_spatial`).
        pad_multiple: windows are padded (centred) to multiples of it (official 56).
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).
    """

    region_conditioned = True

    def __init__(self, clip: nn.Module | dict, dino: nn.Module | dict,
                 regions: nn.Module | dict, *, alpha: float = 1.0, beta: float = 0.5,
                 tau: float = 4.0, merge_eps: float = 0.2, num_spatial: int | None = None,
                 pad_multiple: int = 56,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        super().__init__(clip, pretrained, method='CorrCLIP')
        self.dino = dino if isinstance(dino, nn.Module) else MODELS.build(dino)
        self.regions = regions if isinstance(regions, nn.Module) else MODELS.build(regions)
        num_layers = len(self.clip.visual.transformer.resblocks)
        self.num_spatial = official_num_spatial(num_layers) if num_spatial is None \
            else int(num_spatial)
        if not 1 <= self.num_spatial <= num_layers - 2:
            raise ValueError(f'num_spatial must be in [1, {num_layers - 2}] for a '
                             f'{num_layers}-block CLIP, got {self.num_spatial}')
        if pad_multiple <= 0:
            raise ValueError(f'pad_multiple must be positive, got {pad_multiple}')
        if merge_eps < 0 or tau <= 0:
            raise ValueError(f'merge_eps must be >= 0 and tau > 0, got {merge_eps}, {tau}')
        self.alpha, self.beta, self.tau = float(alpha), float(beta), float(tau)
        self.merge_eps, self.pad_multiple = float(merge_eps), int(pad_multiple)
        self.patch_size = int(self.dino.patch_size)

    @property
    def grid_placement(self) -> tuple[int, bool]:
        """(DINO stride, centred): the output grid covers the window padded (centred) up to
        ``pad_multiple``."""
        return self.patch_size, True

    def region_ids(self, image: Tensor, sample) -> Tensor:
        """(H, W) int64 region ids of one image at its sample's ``ori_shape``.

        Args:
            image: (3, h, w) 0..255 RGB at the working resolution.
        """
        return self.regions.region_ids(image, sample)

    def dense_features(self, images: Tensor, regions: Tensor | None = None) -> Tensor:
        """(B, 3, H, W) CLIP-normalised crops + (B, H, W) region ids -> (B, C, h, w) on the
        DINO grid of each crop padded to ``pad_multiple``."""
        if regions is None:
            raise ValueError('CorrCLIP needs the region ids of each window (OVModel passes '
                             'them; call dense_features(crops, regions))')
        if regions.shape[-2:] != images.shape[-2:] or regions.shape[0] != images.shape[0]:
            raise ValueError(f'regions {tuple(regions.shape)} do not match the crops '
                             f'{tuple(images.shape)}')
        images = pad_window(images, self.pad_multiple, centred=True)
        regions = pad_window(regions[:, None].float() - PAD_REGION, self.pad_multiple,
                             centred=True)[:, 0].round().long() + PAD_REGION
        with torch.no_grad():
            return torch.cat([self._crop_features(image[None], ids)
                              for image, ids in zip(images, regions)])

    def _crop_features(self, image: Tensor, ids: Tensor) -> Tensor:
        """(1, 3, H, W) padded crop, (H, W) ids -> (1, C, h, w) on the DINO grid."""
        out = self.dino(cut_to_patches(image, self.dino.patch_size), self.clip.mean,
                        self.clip.std, with_qkv=True)
        grid = out.grid
        feats = F.normalize((out.qkv_maps('q') + out.qkv_maps('k')).flatten(2)[0].T.float(),
                            dim=-1)
        merged = merge_similar_regions(nearest_ids(ids, grid), feats, self.merge_eps)
        attn = region_scoped_affinity(feats, merged.flatten(), self.tau)

        x, clip_grid = self.clip.vit_tokens(cut_to_patches(image, self.clip.patch_size))
        token_ids = nearest_ids(merged, clip_grid)
        values = torch.unique(token_ids)
        region_masks = token_ids.flatten()[None] == values[:, None]  # (R, T)
        count = len(values)
        mask = region_token_mask(region_masks).to(x.dtype)
        x = torch.cat([x[:, :1].expand(-1, count, -1), x], dim=1)
        blocks = self.clip.visual.transformer.resblocks
        spatial_blocks = range(len(blocks) - 2 - self.num_spatial, len(blocks) - 2)
        spatial = []
        for index, block in enumerate(blocks[:-1]):
            x = block(x, attn_mask=mask)
            if index in spatial_blocks:
                spatial.append(x[:, count:])
        last = blocks[-1]
        branches = torch.cat([x[:, count:], torch.stack(spatial).mean(0)])  # main, spatial
        _, _, v = block_qkv(last, branches)
        v = resample_tokens(v[:, :, 1:], clip_grid, grid)  # (2, heads, h*w, hd)
        mixed = split_heads(attn.to(v.dtype) @ merge_heads(v), v.shape[1])
        tokens = block_output_projection(last, mixed)  # (2, h*w, width)
        region_tokens = last(x, attn_mask=mask)[0, :count]  # (R, width)
        spread = nearest_ids(region_masks.reshape(count, *clip_grid).long().argmax(0), grid)
        semantic = region_tokens[spread.flatten()][None]  # (1, h*w, width)
        maps = self.clip.project_patch_tokens(
            tokens_to_map(torch.cat([tokens, semantic]), grid))  # (3, C, h, w)
        return maps[:1] + self.alpha * maps[1:2] + self.beta * maps[2:]
