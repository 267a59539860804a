"""A light FPN pixel decoder for mask-transformer segmentation (FC-CLIP / Mask2Former style).

Mask2Former's pixel decoder is an FPN whose coarse levels pass through multi-scale
deformable attention; that op needs compiled kernels, so this decoder is the plain FPN
(lateral 1x1 + top-down sum + 3x3 output conv with GroupNorm), optionally preceded by a
standard transformer encoder on the stride-32 level (global context at 1/32 cost).
"""
from __future__ import annotations

from typing import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.panoptic.positional import sine_position_encoding
from ovperception.registry import MODELS

LEVELS = ('res2', 'res3', 'res4', 'res5')


def conv_norm(in_channels: int, out_channels: int, kernel: int, groups: int = 32) -> nn.Sequential:
    """Conv (no bias) + GroupNorm (+ ReLU for 3x3): the FPN building block."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel,
                                         padding=kernel // 2, bias=False),
                               nn.GroupNorm(min(groups, out_channels), out_channels)]
    if kernel > 1:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


@MODELS.register_module()
class FPNPixelDecoder(nn.Module):
    """Multi-scale CNN features -> per-pixel mask features + coarse-to-fine levels.

    Args:
        in_channels: channels of ``res2`` .. ``res5`` (``OpenCLIPBackbone.stage_channels``).
        conv_dim: channels of every FPN level.
        mask_dim: channels of the stride-4 mask features.
        num_encoder_layers: transformer encoder layers on ``res5`` (0 = none).
        num_heads: attention heads of that encoder.
    """

    def __init__(self, in_channels: Mapping[str, int] | list[int], conv_dim: int = 256,
                 mask_dim: int = 256, *, num_encoder_layers: int = 0,
                 num_heads: int = 8) -> None:
        super().__init__()
        channels = (list(in_channels.values()) if isinstance(in_channels, Mapping)
                    else list(in_channels))
        if len(channels) != len(LEVELS):
            raise ValueError(f'in_channels needs {len(LEVELS)} levels, got {channels}')
        self.conv_dim, self.mask_dim = conv_dim, mask_dim
        self.lateral = nn.ModuleList([conv_norm(c, conv_dim, 1) for c in channels])
        self.output = nn.ModuleList([conv_norm(conv_dim, conv_dim, 3) for _ in channels])
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, 1)
        self.encoder = (nn.TransformerEncoder(
            nn.TransformerEncoderLayer(conv_dim, num_heads, 4 * conv_dim, dropout=0.0,
                                       batch_first=True, norm_first=False),
            num_encoder_layers, enable_nested_tensor=False)
            if num_encoder_layers > 0 else None)

    def _encode_coarsest(self, x: Tensor) -> Tensor:
        """Transformer encoder over the (B, D, h, w) stride-32 map (with sine positions)."""
        if self.encoder is None:
            return x
        batch, dim, height, width = x.shape
        pos = sine_position_encoding(height, width, dim, x.device).flatten(1).t()
        tokens = x.flatten(2).transpose(1, 2) + pos
        return self.encoder(tokens).transpose(1, 2).reshape(batch, dim, height, width)

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Top-down FPN.

        Args:
            features: ``{'res2': (B, C2, H/4, W/4), ..., 'res5': (B, C5, H/32, W/32)}``.

        Returns:
            ``(mask_features (B, mask_dim, H/4, W/4), [res5, res4, res3] levels (B, conv_dim,
            h_l, w_l))`` - the coarse-to-fine levels the transformer decoder attends to.
        """
        maps = [features[name] for name in LEVELS]
        top = self._encode_coarsest(self.lateral[-1](maps[-1]))
        outputs = [self.output[-1](top)]
        for index in range(len(LEVELS) - 2, -1, -1):
            lateral = self.lateral[index](maps[index])
            top = lateral + F.interpolate(top, size=lateral.shape[-2:], mode='nearest')
            outputs.append(self.output[index](top))
        return self.mask_features(outputs[-1]), outputs[:3]
