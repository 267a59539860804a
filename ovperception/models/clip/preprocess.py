"""CLIP's own image preprocessing (OpenAI's / open_clip's ``preprocess`` without the
normalisation): bicubic resize of the short side, then a centre crop.

One routine, :func:`clip_view`, for both forms an image takes here: a PIL image (uint8 pixels
before normalisation, resized by PIL as torchvision's ``Resize`` does on PIL input) and a
tensor (already normalised values, torchvision's antialiased bicubic).
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor
from torchvision.transforms import InterpolationMode

ClipImage = TypeVar('ClipImage', Tensor, Image.Image)


def clip_view(image: ClipImage, size: int) -> ClipImage:
    """The ``size`` x ``size`` view CLIP sees: short side to ``size`` (bicubic, antialiased),
    then torchvision's ``CenterCrop``.

    Args:
        image: a PIL image, or a (..., 3, H, W) float tensor.
        size: the model's input side (224 for ViT-B/16).

    Returns:
        The same kind as ``image``: (size, size) PIL image or (..., 3, size, size) tensor.
    """
    if size < 1:
        raise ValueError(f'size must be positive, got {size}')
    resized = TF.resize(image, int(size), interpolation=InterpolationMode.BICUBIC,
                        antialias=True)
    return TF.center_crop(resized, [int(size), int(size)])


def clip_resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (size, size, 3) uint8 by :func:`clip_view` on a PIL image."""
    pil = Image.fromarray(np.ascontiguousarray(image).astype(np.uint8))
    return np.array(clip_view(pil, size), dtype=np.uint8)  # a writable copy


__all__ = ['clip_resize_center_crop', 'clip_view']
