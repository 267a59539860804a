"""Mask-Adapter (Li et al., CVPR 2025), as released (hustvl/MaskAdapter): turns each binary
mask proposal and the dense CLIP features into ``num_output_maps`` semantic activation maps,
which pool the frozen CLIP trunk features for mask classification (replacing FC-CLIP's plain
mask pooling). Parameter names are the released ones (``mask_downscaling``, ``fuse``,
``cnext1..3``, ``norm``, ``final``), so released weights map key for key."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.registry import MODELS


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (N, C, H, W) map (eps 1e-6)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


class ConvNextBlock(nn.Module):
    """ConvNeXt block: 7x7 depthwise conv, LayerNorm, MLP x4 with GELU, layer scale
    (released names ``dwconv``, ``norm``, ``pwconv1/2``, ``gamma``), residual."""

    def __init__(self, dim: int, layer_scale_init: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        y = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


@MODELS.register_module()
class MaskAdapter(nn.Module):
    """Semantic activation maps from masks and dense CLIP features.

    Args:
        clip_dim: channels of the dense CLIP embeddings (768 ConvNeXt-L, 640 ConvNeXt-B).
        mask_in_chans: hidden channels of the mask encoder (16).
        num_channels: channels of the ConvNeXt blocks (768).
        num_output_maps: activation maps per mask (16).
    """

    def __init__(self, clip_dim: int = 768, mask_in_chans: int = 16, num_channels: int = 768,
                 num_output_maps: int = 16) -> None:
        super().__init__()
        self.num_output_maps = num_output_maps
        self.fuse = nn.Conv2d(clip_dim, num_channels, 1)
        self.cnext1 = ConvNextBlock(num_channels)
        self.cnext2 = ConvNextBlock(num_channels)
        self.cnext3 = ConvNextBlock(num_channels)
        self.norm = nn.LayerNorm(num_channels)
        self.final = nn.Conv2d(num_channels, num_output_maps, 1)
        quarter = mask_in_chans // 4
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, quarter, 3, stride=2, padding=1), LayerNorm2d(quarter), nn.GELU(),
            nn.Conv2d(quarter, mask_in_chans, 3, stride=2, padding=1),
            LayerNorm2d(mask_in_chans), nn.GELU(),
            nn.Conv2d(mask_in_chans, clip_dim, 1))

    def forward(self, clip_dense: Tensor, masks: Tensor) -> Tensor:
        """Activation maps.

        Args:
            clip_dense: (B, C, h, w) dense CLIP embeddings.
            masks: (B, N, H, W) binary (or soft) masks, any size (resized to 4h x 4w).

        Returns:
            (B, N * num_output_maps, h, w) activation logits (mask-major).
        """
        batch, num_masks = masks.shape[:2]
        height, width = clip_dense.shape[-2:]
        masks = F.interpolate(masks.flatten(0, 1)[:, None].float(), size=(4 * height, 4 * width),
                              mode='bilinear', align_corners=False)
        x = clip_dense.repeat_interleave(num_masks, dim=0) + self.mask_downscaling(masks)
        x = self.cnext3(self.cnext2(self.cnext1(self.fuse(x))))
        x = self.final(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return x.reshape(batch, num_masks * self.num_output_maps, height, width)


def activation_pooling(maps: Tensor, features: Tensor) -> Tensor:
    """Features pooled by each activation map, as released.

    Args:
        maps: (B, N * M, h, w) activation logits.
        features: (B, C, h, w) features to pool (CLIP trunk features).

    Returns:
        (B, N * M, C): ``softmax_hw(log sigmoid(maps)) @ features``.
    """
    weights = F.logsigmoid(maps.flatten(2)).softmax(dim=-1)
    return torch.bmm(weights, features.flatten(2).transpose(1, 2))
