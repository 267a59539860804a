"""Class-agnostic region maps: pre-generated masks on disk, and the majority-vote correction.

A region map is an (H, W) int64 map of region ids at a sample's ``ori_shape``; the smallest id
marks pixels that no region covers (CorrCLIP's convention; SAM 2's automatic masks give 0).
``OVModel`` stores it on the sample as ``region_ids`` (a ``PixelData``) for the refiners.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList


@MODELS.register_module()
class PrecomputedRegionMasks(nn.Module):
    """Region ids read from ``<directory>/<image stem><suffix>`` (the official CorrCLIP
    pre-generated SAM 2 masks: ``region_masks/<dataset>/<stem>.npz`` holding ``instance_mask``).

    Args:
        directory: folder of the mask files.
        key: array name inside each ``.npz``.
        suffix: file suffix after the image's stem.
    """

    def __init__(self, directory: str, key: str = 'instance_mask', suffix: str = '.npz') -> None:
        super().__init__()
        self.directory, self.key, self.suffix = directory, key, suffix

    def path_for(self, sample: OVDataSample) -> str:
        """The mask file of a sample (by the stem of its ``img_path``)."""
        img_path = sample.metainfo.get('img_path') if sample is not None else None
        if not img_path:
            raise ValueError('pre-generated region masks are found by image file name: this '
                             'image has no img_path (use a SAM2MaskGenerator for in-memory '
                             'images)')
        stem = os.path.splitext(os.path.basename(img_path))[0]
        return os.path.join(self.directory, stem + self.suffix)

    def region_ids(self, image: Tensor, sample: OVDataSample) -> Tensor:
        """(H0, W0) int64 ids of the sample's pre-generated mask (shape checked against
        ``ori_shape``)."""
        path = self.path_for(sample)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'region mask file not found: {path!r} (download the '
                                    'pre-generated masks, see docs/leaderboard.md CorrCLIP)')
        with np.load(path, allow_pickle=False) as data:
            if self.key not in data:
                raise KeyError(f'{path!r} has no array {self.key!r} (has {sorted(data)})')
            ids = torch.from_numpy(np.asarray(data[self.key]).astype(np.int64))
        want = tuple(sample.metainfo.get('ori_shape', ids.shape))[:2]
        if ids.ndim != 2 or tuple(ids.shape) != want:
            raise ValueError(f'region mask {path!r} has shape {tuple(ids.shape)}, the image '
                             f'{want}')
        return ids.to(image.device)


def majority_vote(labels: Tensor, ids: Tensor) -> Tensor:
    """Every region except the smallest id takes its most frequent label (ties: the smallest
    label, as ``torch.mode``).

    Args:
        labels: (H, W) int64 labels.
        ids: (H, W) region ids.

    Returns:
        (H, W) corrected labels.
    """
    values, region = torch.unique(ids, return_inverse=True)
    classes, label = torch.unique(labels, return_inverse=True)
    counts = torch.bincount((region * len(classes) + label).flatten(),
                            minlength=len(values) * len(classes)).view(len(values), -1)
    winners = classes[counts.argmax(dim=1)]
    return torch.where(region == 0, labels, winners[region])


@MODELS.register_module()
class RegionVoteRefiner(nn.Module):
    """CorrCLIP's map correction: each region of the sample's ``region_ids`` takes the
    majority label of ``pred_sem_seg`` (both at ``ori_shape``)."""

    def refine(self, images: list[Tensor], samples: SampleList) -> list[OVDataSample]:
        """Correct ``pred_sem_seg`` of every sample in place."""
        for sample in samples:
            if 'region_ids' not in sample:
                raise ValueError('RegionVoteRefiner needs region ids on the samples: use it '
                                 'with a region-conditioned backbone (CorrCLIPBackbone)')
            labels = sample.pred_sem_seg.data[0]
            ids = sample.region_ids.data[0].to(labels.device)
            if ids.shape != labels.shape:
                raise ValueError(f'region ids {tuple(ids.shape)} and labels '
                                 f'{tuple(labels.shape)} differ in size')
            corrected = majority_vote(labels.long(), ids).to(labels.dtype)
            sample.pred_sem_seg = PixelData(data=corrected[None])
        return list(samples)
