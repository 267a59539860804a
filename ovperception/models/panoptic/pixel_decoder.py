"""Pixel decoders for mask-transformer segmentation (FC-CLIP / Mask2Former).

* :class:`MSDeformAttnPixelDecoder` - the released FC-CLIP / Mask2Former decoder: the
  stride-8/16/32 levels pass through a multi-scale deformable-attention encoder (pure
  PyTorch, :mod:`ovperception.models.panoptic.ms_deform_attn`), then one FPN step adds the
  stride-4 level.
* :class:`FPNPixelDecoder` - a lighter plain FPN (lateral 1x1 + top-down sum + 3x3 output conv
  with GroupNorm), optionally preceded by a standard transformer encoder on the stride-32 level.

Both return ``(mask_features, [three levels coarse to fine])``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.panoptic.ms_deform_attn import MSDeformAttn, reference_points
from ovperception.models.panoptic.positional import sine_position_encoding
from ovperception.registry import MODELS

LEVELS = ('res2', 'res3', 'res4', 'res5')


def _level_channels(in_channels: Mapping[str, int] | Sequence[int]) -> list[int]:
    channels = (list(in_channels.values()) if isinstance(in_channels, Mapping)
                else list(in_channels))
    if len(channels) != len(LEVELS):
        raise ValueError(f'in_channels needs {len(LEVELS)} levels, got {channels}')
    return channels


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
        channels = _level_channels(in_channels)
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


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention then FFN, each residual + post-LayerNorm (dropout 0)."""

    def __init__(self, dim: int, dim_feedforward: int, num_levels: int, num_heads: int,
                 num_points: int) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(dim, num_levels, num_heads, num_points)
        self.norm1 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor, pos: Tensor, points: Tensor,
                shapes: Sequence[tuple[int, int]]) -> Tensor:
        """(B, S, D) tokens of all levels, (B, S, D) positions, (B, S, L, 2) references."""
        tokens = self.norm1(tokens + self.self_attn(tokens + pos, points, tokens, shapes))
        return self.norm2(tokens + self.linear2(F.relu(self.linear1(tokens))))


@MODELS.register_module()
class MSDeformAttnPixelDecoder(nn.Module):
    """Mask2Former's multi-scale deformable-attention pixel decoder (as FC-CLIP releases it).

    ``res3``..``res5`` are projected (1x1 conv + GroupNorm), given sine positions and a
    learned level embedding, and refined jointly by ``num_encoder_layers`` deformable
    encoder layers; the stride-8 output is then upsampled (bilinear) onto the laterally
    projected ``res2`` (1x1 conv + GN) and smoothed (3x3 conv + GN + ReLU); a 1x1 conv gives
    the mask features.

    Parameter names follow the official module (``input_proj``, ``level_embed``,
    ``encoder_layers.*.self_attn.sampling_offsets`` ...) so its checkpoints convert by renaming.

    Args:
        in_channels: channels of ``res2`` .. ``res5``.
        conv_dim: width of every level and of the encoder.
        mask_dim: channels of the stride-4 mask features.
        num_encoder_layers: deformable encoder layers (FC-CLIP: 6).
        num_heads: attention heads.
        dim_feedforward: encoder FFN width (Mask2Former: 1024).
        num_points: sampling points per head and level.
        num_groups: GroupNorm groups.
    """

    num_transformer_levels = 3

    def __init__(self, in_channels: Mapping[str, int] | list[int], conv_dim: int = 256,
                 mask_dim: int = 256, *, num_encoder_layers: int = 6, num_heads: int = 8,
                 dim_feedforward: int = 1024, num_points: int = 4,
                 num_groups: int = 32) -> None:
        super().__init__()
        channels = _level_channels(in_channels)
        if conv_dim % num_groups:
            raise ValueError(f'conv_dim {conv_dim} must be divisible by num_groups {num_groups}')
        self.conv_dim, self.mask_dim = conv_dim, mask_dim
        levels = self.num_transformer_levels
        # coarse first: input_proj[0] projects res5
        self.input_proj = nn.ModuleList([
            nn.Sequential(nn.Conv2d(c, conv_dim, 1), nn.GroupNorm(num_groups, conv_dim))
            for c in reversed(channels[1:])])
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight)
            nn.init.zeros_(proj[0].bias)
        self.level_embed = nn.Parameter(torch.empty(levels, conv_dim).normal_())
        self.encoder_layers = nn.ModuleList([
            DeformableEncoderLayer(conv_dim, dim_feedforward, levels, num_heads, num_points)
            for _ in range(num_encoder_layers)])
        for layer in self.encoder_layers:
            for name, param in layer.named_parameters():
                if param.dim() > 1 and 'self_attn' not in name:
                    nn.init.xavier_uniform_(param)
        self.lateral_conv = conv_norm(channels[0], conv_dim, 1, num_groups)
        self.output_conv = conv_norm(conv_dim, conv_dim, 3, num_groups)
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, 1)

    def encode(self, maps: list[Tensor]) -> list[Tensor]:
        """Deformable encoder over (B, C_l, h_l, w_l) maps (coarse first) -> (B, D, h_l, w_l)."""
        tokens, positions, shapes = [], [], []
        for index, feature in enumerate(maps):
            projected = self.input_proj[index](feature)
            height, width = projected.shape[-2:]
            shapes.append((int(height), int(width)))
            tokens.append(projected.flatten(2).transpose(1, 2))
            pos = sine_position_encoding(height, width, self.conv_dim, feature.device)
            positions.append(pos.flatten(1).t()[None] + self.level_embed[index][None, None])
        x = torch.cat(tokens, 1)
        pos = torch.cat(positions, 1)
        points = reference_points(shapes, x.shape[0], len(shapes), x.device)
        for layer in self.encoder_layers:
            x = layer(x, pos, points, shapes)
        sizes = [h * w for h, w in shapes]
        return [part.transpose(1, 2).reshape(x.shape[0], -1, h, w)
                for part, (h, w) in zip(x.split(sizes, dim=1), shapes)]

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Multi-scale features -> mask features and the three encoder levels.

        Args:
            features: ``{'res2': (B, C2, H/4, W/4), ..., 'res5': (B, C5, H/32, W/32)}``.

        Returns:
            ``(mask_features (B, mask_dim, H/4, W/4), [res5, res4, res3] levels (B, conv_dim,
            h_l, w_l))`` (float32: deformable sampling runs in full precision).
        """
        coarse_first = [features[name].float() for name in reversed(LEVELS[1:])]
        with torch.autocast(device_type=coarse_first[0].device.type, enabled=False):
            levels = self.encode(coarse_first)
            lateral = self.lateral_conv(features[LEVELS[0]].float())
            fine = self.output_conv(lateral + F.interpolate(
                levels[-1], size=lateral.shape[-2:], mode='bilinear', align_corners=False))
            return self.mask_features(fine), levels
