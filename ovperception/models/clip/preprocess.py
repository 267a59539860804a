"""CLIP's own image preprocessing (OpenAI's / open_clip's ``preprocess`` without the
normalisation): bicubic resize of the short side on a PIL image, then a centre crop."""
from __future__ import annotations

import numpy as np
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode


def clip_resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (size, size, 3) uint8: short side to ``size`` (bicubic, PIL,
    as torchvision's ``Resize`` on a PIL image) and torchvision's ``CenterCrop``."""
    if size < 1:
        raise ValueError(f'size must be positive, got {size}')
    pil = Image.fromarray(np.ascontiguousarray(image).astype(np.uint8))
    pil = TF.resize(pil, int(size), interpolation=InterpolationMode.BICUBIC)
    pil = TF.center_crop(pil, [int(size), int(size)])
    return np.array(pil, dtype=np.uint8)  # a writable copy


__all__ = ['clip_resize_center_crop']
