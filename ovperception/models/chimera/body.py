"""The trainable "body" of Chimera-Seg: a timm CNN giving one dense feature map."""
from __future__ import annotations

import timm
from torch import Tensor, nn

from ovperception.registry import MODELS


@MODELS.register_module()
class TimmSegBody(nn.Module):
    """A timm network in ``features_only`` mode; its deepest requested stage is the output.

    Args:
        model_name: timm architecture (e.g. ``'resnet101'``; ``'resnet10t'`` for tests).
        pretrained: timm's pretrained weights (needs them in the local cache; False: random).
        output_stride: 8, 16 or 32 (dilated last stages, DeepLab style, where timm supports it).
        out_index: which feature stage is the output (timm ``out_indices`` entry, -1: last).
        model_kwargs: further ``timm.create_model`` arguments.
    """

    def __init__(self, model_name: str = 'resnet101', pretrained: bool = False, *,
                 output_stride: int = 16, out_index: int = -1,
                 model_kwargs: dict | None = None) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride}')
        self.net = timm.create_model(model_name, pretrained=bool(pretrained), features_only=True,
                                     out_indices=(out_index,), output_stride=output_stride,
                                     **dict(model_kwargs or {}))
        info = self.net.feature_info
        self.out_channels = int(info.channels()[-1])
        self.stride = min(int(info.reduction()[-1]), int(output_stride))

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, out_channels, ceil(H/s), ceil(W/s))."""
        return self.net(images)[-1]
