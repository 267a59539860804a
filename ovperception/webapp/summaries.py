"""What the page lists beside the overlay, and what a click on the image reports."""
from __future__ import annotations

import numpy as np

from ovperception.structures import OVDataSample, display_names, image_level_counts
from ovperception.utils.annotations import to_numpy
from ovperception.utils.panoptic import INSTANCE_OFFSET

#: Columns of the result table.
TABLE_HEADERS = ['class', 'value', 'detail']


def label_names(sample: OVDataSample) -> list[str]:
    """Display names of the sample's classes."""
    return display_names(sample.metainfo)


def summary_rows(task: str, sample: OVDataSample) -> list[list[str]]:
    """Rows ``[class, value, detail]`` for the task: areas, segments, detections, counts."""
    names = label_names(sample)
    if task == 'anomaly':
        score = float(sample.pred_score) if 'pred_score' in sample else \
            float(sample.pred_anomaly_map.data.max())
        threshold = sample.metainfo.get('anomaly_threshold')
        verdict = 'no verdict (no threshold)' if threshold is None else (
            'anomalous' if score >= threshold else 'normal') + f' (threshold {threshold:.3f})'
        return [[names[0] if names else 'object', f'score {score:.3f}', verdict]]
    if task == 'counting':
        counts = to_numpy(sample.pred_count).reshape(-1)
        image_level = image_level_counts(sample)
        return [[names[i] if i < len(names) else f'class {i}', f'{int(round(float(c)))}',
                 f'count (model output {float(c):.2f}' + (
                     f'; image-level count {int(image_level[i])})' if image_level is not None
                     else ')')] for i, c in enumerate(counts)]
    if task == 'detection':
        instances = sample.pred_instances
        labels, scores = to_numpy(instances.labels), to_numpy(instances.scores)
        order = np.argsort(-scores)
        return [[names[int(labels[i])], f'{float(scores[i]):.3f}',
                 'box ' + ', '.join(f'{v:.0f}' for v in to_numpy(instances.bboxes)[i])]
                for i in order]
    if task == 'panoptic' and 'pred_panoptic_seg' in sample:
        ids = to_numpy(sample.pred_panoptic_seg.data).reshape(-1)
        values, areas = np.unique(ids[ids >= 0], return_counts=True)
        return [[names[int(v) % INSTANCE_OFFSET], f'{100.0 * a / ids.size:.1f} %',
                 f'segment {int(v) // INSTANCE_OFFSET}'] for v, a in zip(values, areas)]
    labels = to_numpy(sample.pred_sem_seg.data).reshape(-1)
    rows = []
    for index, name in enumerate(names):
        area = float((labels == index).mean())
        if area > 0:
            rows.append([name, f'{100.0 * area:.1f} %', 'area'])
    unlabelled = float((labels == 255).mean())
    if unlabelled > 0:
        rows.append(['(unlabelled)', f'{100.0 * unlabelled:.1f} %', 'area'])
    return rows


def describe_point(task: str, sample: OVDataSample, x: int, y: int) -> str:
    """What lies at pixel (x, y) of the input image: label and score where there is one."""
    names = label_names(sample)
    if task == 'anomaly':
        amap = sample.pred_anomaly_map.data[0]
        row, col = _scaled(y, x, sample, amap.shape)
        return f'anomaly score {float(amap[row, col]):.3f} at ({x}, {y})'
    if task == 'counting':
        if 'pred_density' in sample:
            density = sample.pred_density.data
            row, col = _scaled(y, x, sample, density.shape[-2:])
            values = ', '.join(f'{names[k] if k < len(names) else k}: {float(v):.4f}'
                               for k, v in enumerate(density[:, row, col]))
            return f'density at ({x}, {y}): {values}'
        return _instance_at(sample, names, x, y)
    if task == 'detection':
        return _instance_at(sample, names, x, y)
    if task == 'panoptic' and 'pred_panoptic_seg' in sample:
        ids = sample.pred_panoptic_seg.data[0]
        value = int(ids[y, x])
        if value < 0:
            return f'({x}, {y}): no segment'
        return f'({x}, {y}): {names[value % INSTANCE_OFFSET]} (segment {value // INSTANCE_OFFSET})'
    label = int(sample.pred_sem_seg.data[0, y, x])
    if label == 255 or label >= len(names):
        return f'({x}, {y}): unlabelled'
    text = f'({x}, {y}): {names[label]}'
    if 'seg_logits' in sample:
        probs = sample.seg_logits.data
        row, col = _scaled(y, x, sample, probs.shape[-2:])
        text += f', score {float(probs[label, row, col]):.3f}'
    return text


def _scaled(y: int, x: int, sample: OVDataSample, shape: tuple[int, ...]) -> tuple[int, int]:
    """(row, col) in a map of ``shape`` of the input pixel (x, y)."""
    height, width = (int(v) for v in sample.metainfo.get('ori_shape', shape)[:2])
    return (min(int(y * shape[-2] / height), shape[-2] - 1),
            min(int(x * shape[-1] / width), shape[-1] - 1))


def _instance_at(sample: OVDataSample, names: list[str], x: int, y: int) -> str:
    """The highest-scoring instance whose box holds (x, y)."""
    if 'pred_instances' not in sample or len(sample.pred_instances) == 0:
        return f'({x}, {y}): nothing detected'
    instances = sample.pred_instances
    boxes = to_numpy(instances.bboxes).reshape(-1, 4)
    scores = to_numpy(instances.scores).reshape(-1) if 'scores' in instances \
        else np.ones(len(boxes))
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    if not inside.any():
        return f'({x}, {y}): no detection here'
    best = int(np.flatnonzero(inside)[np.argmax(scores[inside])])
    label = int(to_numpy(instances.labels).reshape(-1)[best])
    return f'({x}, {y}): {names[label]} score {float(scores[best]):.3f} ' \
           f'({int(inside.sum())} detection(s) here)'
