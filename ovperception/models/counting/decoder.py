"""CLIP-EBC's decoder between the CLIP encoder and the projection (``make_resnet_layers``
of ``models/utils.py``): residual blocks at the block grid, initialised as CLIP-EBC."""
from __future__ import annotations

from typing import Sequence

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

DECODER_BLOCKS = ('basic', 'bottleneck')


class UnitBottleneck(Bottleneck):
    """torchvision's Bottleneck with expansion 1, CLIP-EBC's ResNet decoder block."""

    expansion = 1


def init_like_clip_ebc(module: nn.Module) -> None:
    """CLIP-EBC's ``_init_weights``: Kaiming-normal (fan_out, relu) convs, zero biases,
    BatchNorm weight 1 and bias 0."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode='fan_out', nonlinearity='relu')
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def build_decoder(kind: str, in_channels: int, channels: Sequence[int]) -> nn.Sequential:
    """CLIP-EBC's ``make_resnet_layers``: one residual block per entry of ``channels``.

    Args:
        kind: ``'basic'`` (two 3x3 convs) or ``'bottleneck'`` (1x1, 3x3, 1x1, expansion 1).
        in_channels: channels of the input feature map.
        channels: output channels of each block; a 1x1 conv + BN shortcut where they change.
    """
    if kind not in DECODER_BLOCKS:
        raise ValueError(f'decoder_block must be one of {DECODER_BLOCKS}, got {kind!r}')
    block = BasicBlock if kind == 'basic' else UnitBottleneck
    layers = []
    for out_channels in channels:
        shortcut = None if in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        layers.append(block(in_channels, out_channels, downsample=shortcut))
        in_channels = out_channels
    decoder = nn.Sequential(*layers)
    init_like_clip_ebc(decoder)
    return decoder
