"""Ground-truth segments (labels + masks) of a data sample for mask-transformer training."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ovperception.utils.panoptic import INSTANCE_OFFSET
from ovperception.models.panoptic.set_criterion import SegmentTargets
from ovperception.structures import OVDataSample

IGNORE_INDEX = 255


def segment_targets(sample: OVDataSample, padded: tuple[int, int] | torch.Size,
                    num_classes: int, device: torch.device | str = 'cpu') -> SegmentTargets:
    """Segments of one sample, padded (with 0) to the batch's input size.

    ``gt_panoptic_seg`` (label + instance * INSTANCE_OFFSET, negative = void) gives one
    segment per id; otherwise ``gt_sem_seg`` gives one segment per class present (255
    ignored), i.e. semantic training. A sample with neither, or with an empty map, has no
    segments (every query is then trained towards void).

    Raises:
        ValueError: a label outside the sample's vocabulary [0, num_classes).
    """
    if 'gt_panoptic_seg' in sample:
        pan = sample.gt_panoptic_seg.data[0]
        ids = torch.unique(pan[pan >= 0])
        labels = ids % INSTANCE_OFFSET
        masks = pan[None] == ids[:, None, None]
    elif 'gt_sem_seg' in sample:
        sem = sample.gt_sem_seg.data[0]
        labels = torch.unique(sem[sem != IGNORE_INDEX])
        masks = sem[None] == labels[:, None, None]
    else:
        return SegmentTargets(torch.zeros(0, dtype=torch.long, device=device),
                              torch.zeros(0, *padded, device=device))
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f'{sample.metainfo.get("img_path", "a sample")}: ground-truth labels '
                         f'{labels.tolist()} outside its vocabulary of {num_classes} classes')
    height, width = masks.shape[-2:]
    masks = F.pad(masks.float(), (0, padded[1] - width, 0, padded[0] - height))
    return SegmentTargets(labels.long().to(device), masks.to(device))
