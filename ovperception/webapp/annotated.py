"""The interactive view: the input image with one highlighted region (or box) per result item,
labelled so that hovering shows its class and score."""
from __future__ import annotations

import cv2
import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.annotations import to_numpy
from ovperception.utils.panoptic import INSTANCE_OFFSET
from ovperception.webapp.summaries import label_names

#: At most this many regions are listed (largest / highest-scoring first).
MAX_REGIONS = 100

Region = tuple[np.ndarray | tuple[int, int, int, int], str]


def result_regions(task: str, sample: OVDataSample, size: tuple[int, int]) -> list[Region]:
    """(mask (H, W) float 0..1 or box xyxy, label) pairs of a result, at the input's
    ``size`` (H, W)."""
    names = label_names(sample)
    if task == 'anomaly':
        amap = to_numpy(sample.pred_anomaly_map.data[0]).astype(np.float32)
        score = float(sample.pred_score) if 'pred_score' in sample else float(amap.max())
        span = float(amap.max() - amap.min()) or 1.0
        amap = cv2.resize((amap - amap.min()) / span, (size[1], size[0]),
                          interpolation=cv2.INTER_LINEAR)
        return [(amap, f'anomaly map (image score {score:.3f})')]
    if task in ('detection', 'counting') and 'pred_instances' in sample \
            and 'bboxes' in sample.pred_instances:
        instances = sample.pred_instances
        boxes = to_numpy(instances.bboxes).reshape(-1, 4)
        labels = to_numpy(instances.labels).reshape(-1)
        scores = to_numpy(instances.scores).reshape(-1) if 'scores' in instances \
            else np.ones(len(boxes))
        order = np.argsort(-scores)[:MAX_REGIONS]
        return [(tuple(int(round(v)) for v in boxes[i]),
                 f'{names[int(labels[i])]} {float(scores[i]):.2f}') for i in order]
    if task == 'counting':
        return []  # density only: the overlay tab shows it
    if task == 'panoptic' and 'pred_panoptic_seg' in sample:
        ids = to_numpy(sample.pred_panoptic_seg.data[0])
        values, areas = np.unique(ids[ids >= 0], return_counts=True)
        order = np.argsort(-areas)[:MAX_REGIONS]
        return [((ids == values[i]).astype(np.float32),
                 f'{names[int(values[i]) % INSTANCE_OFFSET]} #{int(values[i]) // INSTANCE_OFFSET}')
                for i in order]
    labels = to_numpy(sample.pred_sem_seg.data[0])
    probs = to_numpy(sample.seg_logits.data) if 'seg_logits' in sample else None
    regions = []
    for index, name in enumerate(names):
        mask = labels == index
        if not mask.any():
            continue
        text = f'{name} {100.0 * mask.mean():.1f} %'
        if probs is not None:
            text += f', score {_mean_in_mask(probs[index], mask):.2f}'
        regions.append((mask.astype(np.float32), text))
    return regions[:MAX_REGIONS]


def _mean_in_mask(prob: np.ndarray, mask: np.ndarray) -> float:
    """Mean of a (h, w) probability map over a (H, W) mask (nearest sampling)."""
    rows = (np.arange(mask.shape[0]) * prob.shape[0] // mask.shape[0])
    cols = (np.arange(mask.shape[1]) * prob.shape[1] // mask.shape[1])
    return float(prob[np.ix_(rows, cols)][mask].mean())
