"""Windows of region-conditioned backbones (CorrCLIP): each crop comes with its region ids."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.inference import Window, encode_windows
from ovperception.structures import SampleList

EncodeFn = Callable[[Tensor], Tensor]


def encode_region_windows(backbone: nn.Module, images: Sequence[Tensor],
                          windows: Sequence[Sequence[Window]], data_samples: SampleList | None,
                          to_rgb: Callable[[Tensor], Tensor],
                          window_encoder: Callable[[EncodeFn], EncodeFn],
                          crop_batch_size: int) -> tuple[list[list[Tensor]], list[Tensor]]:
    """Per image: its region ids (``backbone.region_ids``, at ``ori_shape``), nearest-resized
    to the working size and cut with the image into windows for
    ``backbone.dense_features(crops, regions)``.

    Args:
        images: per image, (3, H, W) normalised float or uint8 0..255 RGB.
        to_rgb: image -> (3, H, W) float 0..255 RGB (for the mask generator).
        window_encoder: wraps a crop encoder as the model runs it on windows (its
            ``amp_dtype``, and normalising first when the images are uint8).

    Returns:
        (per image, per window, a (C, h', w') feature tensor; per image, its (H0, W0) ids).
    """
    features, all_ids = [], []
    for index, (image, image_windows) in enumerate(zip(images, windows)):
        sample = data_samples[index] if data_samples else None
        ids = backbone.region_ids(to_rgb(image), sample)
        all_ids.append(ids)
        working = F.interpolate(ids[None, None].float(), size=tuple(image.shape[-2:]),
                                mode='nearest')[0].to(image.device)
        stacked = torch.cat([image.float(), working])  # the ids ride along as a 4th channel

        def encode(crops: Tensor) -> Tensor:
            pixels, regions = crops[:, :3], crops[:, 3].round().long()
            return window_encoder(lambda p: backbone.dense_features(p, regions))(pixels)

        features.extend(encode_windows([stacked], [image_windows], encode, crop_batch_size))
    return features, all_ids


def attach_region_ids(samples: SampleList, region_ids: Sequence[Tensor]) -> None:
    """Store each image's (H0, W0) region ids on its sample as ``region_ids`` (for the
    region refiners, e.g. ``RegionVoteRefiner``)."""
    for sample, ids in zip(samples, region_ids):
        sample.region_ids = PixelData(data=ids[None])
