"""CLIP's own image preprocessing as a pipeline transform (image-level tasks)."""
from __future__ import annotations

from ovperception.datasets.transforms import BaseTransform
from ovperception.models.clip.preprocess import clip_resize_center_crop
from ovperception.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CLIPResizeCenterCrop(BaseTransform):
    """Resize the short side to ``size`` (bicubic) and crop the centre ``size`` x ``size``,
    as CLIP's ``preprocess`` does (:func:`clip_resize_center_crop`).

    Reads and writes ``img`` (H, W, 3) uint8 RGB; sets ``img_shape``. For image-level
    tasks (counting by number prompts): labels are not transformed.

    Args:
        size: the model's input side (224 for ViT-B/32, 336 for ViT-L/14-336).
    """

    def __init__(self, size: int = 224) -> None:
        if size < 1:
            raise ValueError(f'size must be positive, got {size}')
        self.size = int(size)

    def transform(self, results: dict) -> dict:
        results['img'] = clip_resize_center_crop(results['img'], self.size)
        results['img_shape'] = (self.size, self.size)
        return results


__all__ = ['CLIPResizeCenterCrop']
