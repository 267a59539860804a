"""Turn a predicted :class:`OVDataSample` of any task into dataset objects.

* ``seg`` (``pred_sem_seg``): one object per 8-connected region of each class (label maps
  have no instances; regions are what labelling tools and YOLO-seg expect); the box is the
  region's tight pixel box (inclusive end + 1, so ``x2 - x1`` is the width in pixels); the
  mask is COCO RLE made from the region's crop, and specks under a size scaled to the image
  are dropped, so a large textured image stays within bounded memory.
* ``det`` / ``count`` (``pred_instances``): each instance as predicted (box, score, mask).
* ``panoptic`` (``pred_panoptic_seg``): one object per segment, its score from
  ``segments_info``.
* ``anomaly`` (``pred_anomaly_map``): one object per region of the map at or above the
  threshold, labelled with the object name; the image score goes to the record.
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ovperception.annotation.records import SCORE_DECIMALS, ObjectAnnotation
from ovperception.annotation.settings import TASKS
from ovperception.models.refiners.mask_ops import connected_components
from ovperception.structures import OVDataSample, image_level_counts
from ovperception.utils.annotations import crop_to_rle, label_map_2d, squeeze_2d, to_numpy
from ovperception.utils.panoptic import VOID, panoptic_labels


#: Regions (seg, anomaly) smaller than this share of the image are dropped: 1e-5 keeps every
#: region of a 320x320 image and drops specks under 240 pixels on a 24-megapixel one.
MIN_AREA_FRACTION = 1e-5

#: The prediction field each task reads.
TASK_FIELDS = {'seg': 'pred_sem_seg', 'det': 'pred_instances', 'panoptic': 'pred_panoptic_seg',
               'count': 'pred_count', 'anomaly': 'pred_anomaly_map'}


def infer_task(sample: OVDataSample) -> str:
    """The task whose field ``sample`` holds (panoptic before seg: FC-CLIP gives both)."""
    for task in ('anomaly', 'count', 'panoptic', 'det', 'seg'):
        if TASK_FIELDS[task] in sample:
            return task
    raise ValueError(f'the prediction holds none of {sorted(TASK_FIELDS.values())}')


def region_min_area(image_shape: tuple[int, int], min_area: int = 1) -> int:
    """Smallest region kept (pixels): ``min_area``, but at least :data:`MIN_AREA_FRACTION` of
    the image, so a large textured image does not split into thousands of specks."""
    height, width = image_shape[:2]
    return max(int(min_area), math.ceil(height * width * MIN_AREA_FRACTION - 1e-9), 1)


def _region_objects(mask: np.ndarray, label: int, min_area: int,
                    score: float | None = None) -> list[ObjectAnnotation]:
    """One object per 8-connected piece of ``mask`` (H, W) bool of at least
    :func:`region_min_area` pixels; each mask is stored as RLE built from the piece's crop,
    so memory grows with the pieces' boxes, not with pieces x image size."""
    ids, areas, boxes = connected_components(mask)
    smallest = region_min_area(mask.shape, min_area)
    objects = []
    for index in np.flatnonzero(areas >= smallest).tolist():
        x1, y1, x2, y2 = (int(v) for v in boxes[index])
        crop = ids[y1:y2 + 1, x1:x2 + 1] == index + 1
        objects.append(ObjectAnnotation(
            label, (float(x1), float(y1), x2 + 1.0, y2 + 1.0), score,
            rle=crop_to_rle(crop, (x1, y1), mask.shape)))
    return objects


def _instances(sample: OVDataSample) -> list[ObjectAnnotation]:
    instances = sample.get('pred_instances')
    if instances is None or 'bboxes' not in instances:
        return []
    boxes = to_numpy(instances.bboxes).astype(np.float64).reshape(-1, 4)
    if not np.isfinite(boxes).all():
        raise FloatingPointError('non-finite boxes in the prediction')
    labels = to_numpy(instances.labels).reshape(-1)
    scores = to_numpy(instances.scores).reshape(-1) if 'scores' in instances else None
    masks = to_numpy(instances.masks).astype(bool) if 'masks' in instances else None
    return [ObjectAnnotation(int(labels[i]), tuple(float(v) for v in boxes[i]),
                             None if scores is None else float(scores[i]),
                             None if masks is None else masks[i])
            for i in range(len(boxes))]


def sample_to_objects(sample: OVDataSample, task: str, image_shape: tuple[int, int],
                      min_area: int = 1, anomaly_threshold: float = 0.5
                      ) -> tuple[list[ObjectAnnotation], dict]:
    """Objects of one predicted image and the image-level values of its task.

    Args:
        sample: the prediction (label maps and masks at the input image's size; an anomaly
            map at the working size is resized bilinearly to it).
        task: one of :data:`TASKS`.
        image_shape: ``(H, W)`` of the input image.
        min_area: regions (seg, anomaly) smaller than this many pixels are dropped (and
            those under :data:`MIN_AREA_FRACTION` of the image, see :func:`region_min_area`).
        anomaly_threshold: anomaly-map value from which a pixel is anomalous (the model's
            ``anomaly_threshold`` wins when it is set).

    Returns:
        ``(objects, extra)``; ``extra`` holds ``counts`` (count) or ``score``/``verdict``
        (anomaly), else nothing.
    """
    extra: dict[str, Any] = {}
    if task == 'seg':
        labels = label_map_2d(sample.pred_sem_seg.data)  # uint8 stays uint8
        objects = []
        for label in np.unique(labels[labels != 255]).tolist():
            objects.extend(_region_objects(labels == label, int(label), min_area))
        return objects, extra
    if task == 'panoptic':
        panoptic = squeeze_2d(sample.pred_panoptic_seg.data, 'pred_panoptic_seg')
        labels = panoptic_labels(panoptic)
        info = {s['id']: s for s in sample.metainfo.get('segments_info', [])}
        objects = []
        for value in np.unique(panoptic).tolist():
            if value == VOID:
                continue
            mask = panoptic == value
            ys, xs = np.nonzero(mask)
            score = info.get(int(value), {}).get('score')
            objects.append(ObjectAnnotation(
                int(labels[mask][0]), (float(xs.min()), float(ys.min()), float(xs.max() + 1),
                                       float(ys.max() + 1)),
                None if score is None else float(score), mask))
        return objects, extra
    if task in ('det', 'count'):
        if task == 'count':
            extra['counts'] = [round(float(c), 4) for c in to_numpy(sample.pred_count).reshape(-1)]
            image_level = image_level_counts(sample)
            if image_level is not None:  # a number-prompt counter's answer beside the dense one
                extra['image_level_counts'] = [int(c) for c in image_level]
        return _instances(sample), extra
    if task == 'anomaly':
        amap = squeeze_2d(sample.pred_anomaly_map.data, 'pred_anomaly_map').astype(np.float32)
        if amap.shape != tuple(image_shape):
            amap = cv2.resize(amap, (image_shape[1], image_shape[0]),
                              interpolation=cv2.INTER_LINEAR)
        threshold = sample.metainfo.get('anomaly_threshold')
        threshold = anomaly_threshold if threshold is None else float(threshold)
        score = float(to_numpy(sample.pred_score).reshape(-1)[0]) if 'pred_score' in sample \
            else float(amap.max())
        extra.update(score=round(score, SCORE_DECIMALS), threshold=threshold,
                     verdict='anomalous' if score >= threshold else 'normal')
        return _region_objects(amap >= threshold, 0, min_area, score), extra
    raise ValueError(f'unknown task {task!r}; choose one of {", ".join(TASKS)}')
