"""ProxyCLIP (Lan et al., ECCV 2024): CLIP's last-block values mixed by DINO ("proxy") affinities.

For the N patches of one crop, with proxy features ``f_i`` (DINO last-layer tokens, L2-normalised):

    S_ij  = f_i . f_j                                   (cosine similarity)
    S'_ij = gamma * (S_ij - beta * mean(S))             (adaptive normalisation; mean over i, j)
    S'_ij = -inf where S'_ij < 0                        (masking; the diagonal is always kept)
    A     = softmax_j(S')                               (shared by every head)
    out   = proj(ln_post(out_proj(A V)))                (no residual, no FFN)

``V`` are CLIP's last-block values (from ``ln_1(x)``), bilinearly resampled to the proxy grid
(``output_grid='proxy'``, the paper: logits come out at DINO resolution) or the proxy features
resampled to the CLIP grid (``output_grid='clip'``). Paper defaults: ``beta=1.2``, ``gamma=3.0``.
``mean(S)`` is taken per crop (the paper runs one crop at a time), so batching crops does not
change the result. Keeping the diagonal only matters when a whole row would be masked
(a near-constant crop), where the paper's formula has no finite value.

Windows whose sides are not multiples of ``pad_multiple`` (official: 56) are zero-padded,
centred as in the official code (``padding='centre'``) or bottom/right (``'end'``). The CLIP
tower then sees the padded window cut to a multiple of its patch size (the official stride-16
convolution drops that remainder), and the output grid covers the padded window, placed on the
window by :attr:`ProxyCLIPBackbone.grid_placement`.
"""
from __future__ import annotations

import math
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.registry import MODELS

OUTPUT_GRIDS = ('proxy', 'clip')
PADDINGS = ('centre', 'end')
#: The normalisation constants of the official ProxyCLIP data pre-processor (0..255 RGB): CLIP's
#: statistics rounded to three decimals. Its DINO input is un-normalised with CLIP's exact
#: statistics and re-normalised with ImageNet's (what :class:`ProxyCLIPBackbone` does).
PROXYCLIP_MEAN = (122.771, 116.746, 104.094)
PROXYCLIP_STD = (68.501, 66.632, 70.323)
PROXY_FEATURES = ('tokens', 'q', 'k', 'v')


SIMILARITY_MEANS = ('crop', 'batch')


def proxy_affinity(proxy: Tensor, beta: float = 1.2, gamma: float = 3.0,
                   mean_over: str = 'crop') -> Tensor:
    """ProxyCLIP attention weights from proxy features.

    Args:
        proxy: (B, N, D) proxy features (normalised here).
        mean_over: ``mean(S)`` per ``'crop'`` (ProxyCLIP) or over the whole ``'batch'``
            (Trident, whose batch is all windows of one image).

    Returns:
        (B, N, N) row-stochastic attention.
    """
    feats = F.normalize(proxy.float(), dim=-1)
    sim = feats @ feats.transpose(1, 2)
    mean = sim.mean(dim=(1, 2), keepdim=True) if mean_over == 'crop' else sim.mean()
    sim = (sim - beta * mean) * gamma
    diagonal = torch.eye(sim.shape[-1], dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill((sim < 0) & ~diagonal, float('-inf'))
    return torch.softmax(sim, dim=-1)


def proxy_attention(values: Tensor, proxy: Tensor, beta: float = 1.2,
                    gamma: float = 3.0, mean_over: str = 'crop') -> Tensor:
    """``A V`` with A = :func:`proxy_affinity` shared across heads.

    Args:
        values: (B, heads, N, head_dim) CLIP values on the proxy's N positions.
        proxy: (B, N, D) proxy features.

    Returns:
        (B, heads, N, head_dim).
    """
    attn = proxy_affinity(proxy, beta, gamma, mean_over).to(values.dtype)
    return attn[:, None] @ values


def pad_window(images: Tensor, multiple: int, centred: bool) -> Tensor:
    """Zero-pad (B, 3, H, W) up to multiples of ``multiple``: on both sides (the extra pixel of
    an odd padding at the bottom/right) when ``centred``, else at the bottom/right."""
    pad_h, pad_w = -images.shape[-2] % multiple, -images.shape[-1] % multiple
    if not (pad_h or pad_w):
        return images
    top, left = (pad_h // 2, pad_w // 2) if centred else (0, 0)
    return F.pad(images, (left, pad_w - left, top, pad_h - top))


def cut_to_patches(images: Tensor, patch: int) -> Tensor:
    """(B, 3, H, W) cut to the top-left multiples of ``patch`` (a stride-``patch`` patch
    convolution drops that remainder)."""
    patch = int(patch)
    return images[..., :images.shape[-2] // patch * patch, :images.shape[-1] // patch * patch]


def resample_tokens(tokens: Tensor, grid: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """Bilinearly resample (B, heads, h*w, d) per-patch tokens from ``grid`` to ``size``."""
    if tuple(grid) == tuple(size):
        return tokens
    b, heads, _, dim = tokens.shape
    maps = tokens.transpose(2, 3).reshape(b, heads * dim, *grid)
    maps = F.interpolate(maps, size=size, mode='bilinear', align_corners=False)
    return maps.reshape(b, heads, dim, -1).transpose(2, 3)


@MODELS.register_module()
class ProxyCLIPBackbone(CLIPWrapperBackbone):
    """A frozen CLIP ViT whose last attention is replaced by DINO proxy attention (per crop).

    Follows the backbone contract (``dense_features``, ``encode_text``, ``image_embedding``,
    ``patch_size``, ``logit_scale``, ``weights_id``, ``mean``/``std``), so ``OVModel`` and every
    head use it like an ``OpenCLIPBackbone``. Each crop is padded to a multiple of both patch
    sizes, so the CLIP and DINO grids cover exactly the same pixels.

    Args:
        clip: an ``OpenCLIPBackbone`` (open_clip ViT) or its config.
        proxy: a ``DINOEncoder`` or its config (the vision foundation model).
        beta, gamma: adaptive normalisation of the proxy similarities.
        output_grid: ``'proxy'`` (paper: CLIP values resampled to the DINO grid; output stride
            = DINO patch) or ``'clip'`` (DINO features resampled to the CLIP grid).
        proxy_features: DINO's final-norm output ``'tokens'`` (paper default) or the last
            block's ``'q'`` / ``'k'`` / ``'v'``.
        pad_multiple: windows are padded to multiples of it (official: 56); None: the least
            common multiple of both patch sizes. A tower whose patch does not divide it (CLIP
            /16 or DINO /16 with 56) drops the remainder, as the official patch convolutions
            do; when CLIP does, only ``output_grid='proxy'`` covers the window.
        padding: ``'centre'`` (official) or ``'end'`` (bottom/right).
        similarity_mean: ``mean(S)`` per ``'crop'`` (ProxyCLIP) or over the ``'batch'`` of
            crops (Trident: all windows of one image; needs ``crop_batch_size`` >= windows per
            image and one image per batch).
        project: False returns the raw last-block tokens (B, width, h, w) before CLIP's
            ``ln_post`` and projection (Trident aggregates them); :meth:`project_tokens`
            finishes them.
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).
    """

    def __init__(self, clip: nn.Module | dict, proxy: nn.Module | dict, *, beta: float = 1.2,
                 gamma: float = 3.0, output_grid: str = 'proxy', proxy_features: str = 'tokens',
                 pad_multiple: int | None = None, padding: str = 'end',
                 similarity_mean: str = 'crop', project: bool = True,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        if output_grid not in OUTPUT_GRIDS:
            raise ValueError(f'output_grid must be one of {OUTPUT_GRIDS}, got {output_grid!r}')
        if proxy_features not in PROXY_FEATURES:
            raise ValueError(f'proxy_features must be one of {PROXY_FEATURES}, '
                             f'got {proxy_features!r}')
        if padding not in PADDINGS:
            raise ValueError(f'padding must be one of {PADDINGS}, got {padding!r}')
        if similarity_mean not in SIMILARITY_MEANS:
            raise ValueError(f'similarity_mean must be one of {SIMILARITY_MEANS}, '
                             f'got {similarity_mean!r}')
        super().__init__(clip, pretrained, method='ProxyCLIP')
        self.proxy = proxy if isinstance(proxy, nn.Module) else MODELS.build(proxy)
        self.beta, self.gamma = float(beta), float(gamma)
        self.output_grid, self.proxy_features = output_grid, proxy_features
        clip_patch, proxy_patch = int(self.clip.patch_size), int(self.proxy.patch_size)
        self.patch_size = proxy_patch if output_grid == 'proxy' else clip_patch
        self.pad_multiple = (clip_patch * proxy_patch // math.gcd(clip_patch, proxy_patch)
                             if pad_multiple is None else int(pad_multiple))
        if self.pad_multiple <= 0:
            raise ValueError(f'pad_multiple must be positive, got {self.pad_multiple}')
        if self.pad_multiple % clip_patch and output_grid != 'proxy':
            raise ValueError(f"pad_multiple {self.pad_multiple} is not a multiple of CLIP's "
                             f"patch {clip_patch}: only output_grid='proxy' covers the window")
        self.padding = padding
        self.similarity_mean, self.project = similarity_mean, bool(project)

    @property
    def grid_placement(self) -> tuple[int, bool]:
        """(output stride, centred): the output grid covers each window padded up to
        ``pad_multiple``, centred or bottom/right (read by ``OVModel`` when stitching)."""
        return self.patch_size, self.padding == 'centre'

    def proxy_tokens(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """(B, 3, H, W) CLIP-normalised, padded crops -> ((B, N, D) proxy features, grid)."""
        out = self.proxy(images, self.clip.mean, self.clip.std,
                         with_qkv=self.proxy_features != 'tokens')
        maps = out.patches if self.proxy_features == 'tokens' else out.qkv_maps(
            self.proxy_features)
        return maps.flatten(2).transpose(1, 2), out.grid

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) CLIP-normalised crops -> (B, C, h, w), h = ceil(H / patch_size)."""
        images = pad_window(images, self.pad_multiple, self.padding == 'centre')
        with torch.no_grad():
            proxy, proxy_grid = self.proxy_tokens(cut_to_patches(images, self.proxy.patch_size))
            clip_images = cut_to_patches(images, self.clip.patch_size)

            def attend(q: Tensor, k: Tensor, v: Tensor, grid: tuple[int, int]
                       ) -> tuple[Tensor, tuple[int, int]]:
                values = v[:, :, 1:]
                if self.output_grid == 'proxy':
                    values, out_grid, feats = (resample_tokens(values, grid, proxy_grid),
                                               proxy_grid, proxy)
                else:
                    out_grid = grid
                    feats = resample_tokens(proxy[:, None], proxy_grid, grid)[:, 0]
                return proxy_attention(values, feats, self.beta, self.gamma,
                                       self.similarity_mean), out_grid

            return self.clip.dense_features_with_attention(clip_images, attend, self.project)

    def project_tokens(self, maps: Tensor) -> Tensor:
        """(B, width, h, w) raw tokens (``project=False``) -> ln_post -> proj -> (B, C, h, w)."""
        return self.clip.project_patch_tokens(maps)

