"""F-ViT's neck: a simple feature pyramid from four blocks of a frozen ViT, then an FPN.

The four (B, width, h, w) block outputs (stride p, the patch size) become strides p/4, p/2,
p and 2p: two 2x2 transposed convolutions (with a norm and GELU between them), one, the
identity and a 2x2 max pool. torchvision's ``FeaturePyramidNetwork`` (1x1 lateral and 3x3
output convolutions, each followed by the norm when there is one, nearest top-down
upsampling, an extra level by a stride-2 1x1 max pool) gives the five levels the RPN reads
and the first four the RoI heads pool from.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ovperception.registry import MODELS


def norm_layer(norm: bool) -> type[nn.Module] | None:
    """The batch norm of the released models (SyncBN there; plain BN here, converted by the
    runner's ``sync_bn`` option when training on several GPUs), or none."""
    return nn.BatchNorm2d if norm else None


@MODELS.register_module()
class ViTSimplePyramid(nn.Module):
    """Four ViT block maps -> five FPN levels.

    Args:
        in_channels: ViT width.
        out_channels: FPN channels (256 as released).
        norm: batch norm in the first upsampling branch and the FPN convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int = 256, norm: bool = True) -> None:
        super().__init__()
        width = in_channels
        self.interpolate1 = nn.Sequential(
            nn.ConvTranspose2d(width, width, kernel_size=2, stride=2),
            nn.BatchNorm2d(width) if norm else nn.Identity(), nn.GELU(),
            nn.ConvTranspose2d(width, width, kernel_size=2, stride=2))
        self.interpolate2 = nn.Sequential(nn.ConvTranspose2d(width, width, kernel_size=2,
                                                             stride=2))
        self.interpolate3 = nn.Identity()
        self.interpolate4 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fpn = FeaturePyramidNetwork([width] * 4, out_channels,
                                         extra_blocks=LastLevelMaxPool(),
                                         norm_layer=norm_layer(norm))
        self.out_channels = out_channels

    def scales(self, maps: list[Tensor]) -> list[Tensor]:
        """Four (B, width, h, w) maps -> (B, width, 4h, 4w), (2h, 2w), (h, w), (h/2, w/2)."""
        if len(maps) != 4:
            raise ValueError(f'ViTSimplePyramid needs 4 block maps, got {len(maps)}')
        ups = (self.interpolate1, self.interpolate2, self.interpolate3, self.interpolate4)
        return [up(x) for up, x in zip(ups, maps)]

    def forward(self, maps: list[Tensor]) -> list[Tensor]:
        """Four block maps -> five (B, out_channels, ...) levels, strides p/4 .. 4p."""
        levels = OrderedDict((str(i), x) for i, x in enumerate(self.scales(maps)))
        return list(self.fpn(levels).values())
