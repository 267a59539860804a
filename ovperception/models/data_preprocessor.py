"""Batch collation for OVModel: normalise, pad, move to device."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData
from torch import nn

from ovperception.registry import MODELS

# OpenAI CLIP normalisation in 0..255 RGB scale (shared by most open_clip weights).
CLIP_MEAN = (122.770938, 116.746010, 104.093736)
CLIP_STD = (68.500246, 66.632036, 70.323174)
# ImageNet normalisation in 0..255 RGB scale (DINO / DINOv2, and ExCEL's normalize_img).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
IGNORE_INDEX = 255


@MODELS.register_module()
class OVDataPreprocessor(BaseDataPreprocessor):
    """Normalise uint8 RGB images with CLIP statistics and stack them into a batch.

    Images of different sizes are padded bottom/right (with 0 after
    normalisation) to the largest size of the batch; each sample keeps its own
    ``img_shape`` so that inference crops the padding away. Ground-truth maps
    are padded with 255 (ignored).

    Args:
        mean, std: per-channel statistics in 0..255 RGB scale.
        pad_size_divisor: pad the batch to a multiple of this (1 = none).
    """

    def __init__(self, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD, *,
                 pad_size_divisor: int = 1, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError('mean and std need 3 values each, std > 0')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(3, 1, 1), False)
        self.pad_size_divisor = pad_size_divisor

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) uint8/float RGB in 0..255 -> normalised float32."""
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f'expected an RGB image tensor (3, H, W), got {tuple(image.shape)}')
        return (image.to(self.mean.device, torch.float32) - self.mean) / self.std

    def normalize_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8/float RGB in 0..255 -> normalised float32 (e.g. a batch of windows
        cut from a uint8 image, see ``OVModel.encode_images``)."""
        return (images.to(self.mean.device, torch.float32) - self.mean) / self.std

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize` for (B, 3, H, W) or (3, H, W): back to 0..255 RGB."""
        return images * self.std.to(images.device) + self.mean.to(images.device)

    def forward(self, data: dict, training: bool = False,
                keep_uint8: bool = False) -> dict[str, Any]:
        """Collate ``dict(inputs=[(3, H, W) uint8], data_samples=[OVDataSample])``.

        ``keep_uint8`` leaves uint8 images un-normalised (padded with 0), for
        ``OVModel.encode_images`` to normalise window by window (huge images).
        """
        data = self.cast_data(data)
        inputs = data['inputs']
        samples = data.get('data_samples')
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 3:
            inputs = [inputs]
        keep = keep_uint8 and all(img.dtype == torch.uint8 for img in inputs)
        images = [img if keep else self.normalize(img) for img in inputs]
        height = max(img.shape[-2] for img in images)
        width = max(img.shape[-1] for img in images)
        divisor = max(1, self.pad_size_divisor)
        height, width = -(-height // divisor) * divisor, -(-width // divisor) * divisor
        if len(images) == 1 and tuple(images[0].shape[-2:]) == (height, width):
            batch = images[0][None]  # a view: no copy of a (possibly huge) image
        else:
            batch = torch.stack([F.pad(img, (0, width - img.shape[-1], 0,
                                             height - img.shape[-2])) for img in images])
        if samples is not None:
            for img, sample in zip(images, samples):
                sample.set_metainfo(dict(img_shape=tuple(img.shape[-2:]),
                                         pad_shape=(height, width)))
                if 'ori_shape' not in sample.metainfo:
                    sample.set_metainfo(dict(ori_shape=tuple(img.shape[-2:])))
                if training and 'gt_sem_seg' in sample:
                    gt = sample.gt_sem_seg.data
                    pad = (0, width - gt.shape[-1], 0, height - gt.shape[-2])
                    sample.gt_sem_seg = PixelData(data=F.pad(gt, pad, value=IGNORE_INDEX))
        return dict(inputs=batch, data_samples=samples)


def takes_backbone_statistics(data_preprocessor: dict | nn.Module | None) -> bool:
    """Whether a model's preprocessor config leaves mean / std to the backbone's weights
    (None, or a dict naming neither)."""
    return data_preprocessor is None or (
        isinstance(data_preprocessor, dict) and 'mean' not in data_preprocessor
        and 'std' not in data_preprocessor)


def adopt_backbone_statistics(preprocessor: nn.Module, backbone: nn.Module) -> None:
    """Normalise with the statistics that belong to the backbone's weights (its ``mean`` /
    ``std`` in 0..255, when it has them)."""
    if hasattr(backbone, 'mean'):
        preprocessor.mean.copy_(torch.tensor(backbone.mean).view(3, 1, 1))
        preprocessor.std.copy_(torch.tensor(backbone.std).view(3, 1, 1))
