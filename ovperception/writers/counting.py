"""Writers for counting: density / detection overlay with the count, a JSON record per
image, and :class:`CountTable`, one CSV of the per-image counts of a whole run."""
from __future__ import annotations

import csv
import io
import os
from typing import Any, Iterable

import numpy as np

from ovperception.structures import OVDataSample, display_names, image_level_counts
from ovperception.utils.annotations import mask_to_rle, to_numpy
from ovperception.utils.atomic import (atomic_save_image, atomic_write_bytes, atomic_write_json,
                                       ensure_not_input)
from ovperception.visualization import draw_count, draw_instances
from ovperception.writers.registry import register_writer

#: Density values in the JSON are rounded to this many decimals.
DENSITY_DECIMALS = 4


def _label_names(sample: OVDataSample, num: int) -> list[str]:
    names = display_names(sample.metainfo)
    return names + [f'class {i}' for i in range(len(names), num)]


def _detections(sample: OVDataSample, names: list[str]) -> list[dict[str, Any]]:
    """One record per predicted instance (bbox xyxy, score, label, point, optional RLE)."""
    if 'pred_instances' not in sample or 'bboxes' not in sample.pred_instances:
        return []
    instances = sample.pred_instances
    boxes = to_numpy(instances.bboxes).reshape(-1, 4)
    labels = to_numpy(instances.labels).reshape(-1)
    scores = to_numpy(instances.scores).reshape(-1) if 'scores' in instances else None
    points = to_numpy(instances.points).reshape(-1, 2) if 'points' in instances else None
    masks = to_numpy(instances.masks) if 'masks' in instances else None
    records = []
    for i in range(len(boxes)):
        record = dict(bbox=[round(float(v), 2) for v in boxes[i]], label=int(labels[i]),
                      label_name=names[int(labels[i])] if 0 <= labels[i] < len(names) else None)
        if scores is not None:
            record['score'] = round(float(scores[i]), 4)
        if points is not None:
            record['point'] = [round(float(v), 2) for v in points[i]]
        if masks is not None:
            record['segmentation'] = mask_to_rle(masks[i].astype(bool))
        records.append(record)
    return records


@register_writer('pred_count', suffixes=('_count.png', '_count.json'))
def write_count(targets: dict[str, str], image: np.ndarray, sample: OVDataSample,
                source_path: str) -> None:
    """Overlay (density map or detections, count in the title) and a JSON record.

    JSON: ``file_name``, ``height``, ``width``, ``counts`` (per class ``{label, count}``),
    ``total``; ``image_level_counts`` (per class ``{label, count}``) when a number-prompt
    counter gave them; with a density map ``density`` (``stride`` = image pixels per cell at the
    working resolution, ``shape``, row-major ``values``); with detections ``detections``
    (bbox xyxy in image pixels, score, label, point, COCO RLE ``segmentation``).
    """
    counts = to_numpy(sample.pred_count).astype(np.float64).reshape(-1)
    if not np.isfinite(counts).all():
        raise FloatingPointError(f'non-finite predicted count for {source_path}')
    names = _label_names(sample, len(counts))
    image_counts = image_level_counts(sample)
    title = ', '.join(f'{names[i]}: {counts[i]:.1f}' + (
        f' (image-level {image_counts[i]:.0f})' if image_counts is not None else '')
        for i in range(len(counts)))
    detections = _detections(sample, names)
    record: dict[str, Any] = dict(
        file_name=os.path.abspath(source_path), height=int(image.shape[0]),
        width=int(image.shape[1]),
        counts=[dict(label=names[i], count=round(float(c), 3)) for i, c in enumerate(counts)],
        total=round(float(counts.sum()), 3))
    if image_counts is not None:
        record['image_level_counts'] = [dict(label=names[i], count=int(c))
                                        for i, c in enumerate(image_counts)]
    if 'pred_density' in sample:
        density = to_numpy(sample.pred_density.data).astype(np.float64)
        density = density.reshape(-1, *density.shape[-2:])
        points = np.array([d['point'] for d in detections if 'point' in d]).reshape(-1, 2)
        overlay = draw_count(image, density.sum(0), float(counts.sum()),
                             points=points if len(points) else None, title=title)
        record['density'] = dict(stride=sample.metainfo.get('density_stride'),
                                 shape=list(density.shape),
                                 values=np.round(density, DENSITY_DECIMALS).tolist())
    else:
        instances = sample.get('pred_instances')
        has_boxes = instances is not None and 'bboxes' in instances
        overlay = draw_instances(
            image, to_numpy(instances.bboxes) if has_boxes else np.zeros((0, 4)),
            to_numpy(instances.labels) if has_boxes else np.zeros(0, np.int64),
            to_numpy(instances.scores) if has_boxes and 'scores' in instances else None, names,
            masks=to_numpy(instances.masks) if has_boxes and 'masks' in instances else None,
            points=to_numpy(instances.points) if has_boxes and 'points' in instances else None,
            title=f'count: {title}')
    record['detections'] = detections
    atomic_save_image(targets['_count.png'], overlay)
    atomic_write_json(targets['_count.json'], record)


#: File name of the per-run count table the demo writes next to the per-image files.
COUNT_TABLE_NAME = 'counts.csv'


class CountTable:
    """Per-image counts of a run, written as one CSV (``image``, one column per class,
    ``total``, then ``<class> (image-level)`` columns when a number-prompt counter ran);
    classes missing for an image are left empty."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, float], dict[str, float]]] = []
        self.labels: list[str] = []
        self.image_level_labels: list[str] = []

    def add(self, source_path: str, sample: OVDataSample) -> bool:
        """Record the counts of ``sample`` (False, nothing recorded, without ``pred_count``)."""
        if 'pred_count' not in sample:
            return False
        counts = to_numpy(sample.pred_count).astype(np.float64).reshape(-1)
        names = _label_names(sample, len(counts))
        self.labels += [name for name in names if name not in self.labels]
        image_counts = image_level_counts(sample)
        image_level = ({} if image_counts is None else
                       {name: float(count) for name, count in zip(names, image_counts)})
        self.image_level_labels += [name for name in image_level
                                    if name not in self.image_level_labels]
        self.rows.append((os.path.abspath(source_path),
                          {name: float(count) for name, count in zip(names, counts)},
                          image_level))
        return True

    def to_csv(self) -> str:
        """The table as CSV text (counts rounded to 3 decimals, as in the JSON)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator='\n')
        writer.writerow(['image', *self.labels, 'total',
                         *(f'{name} (image-level)' for name in self.image_level_labels)])
        for path, counts, image_level in self.rows:
            writer.writerow([path, *(round(counts[n], 3) if n in counts else ''
                                     for n in self.labels), round(sum(counts.values()), 3),
                             *(int(image_level[n]) if n in image_level else ''
                               for n in self.image_level_labels)])
        return buffer.getvalue()

    def write(self, path: str, input_paths: Iterable[str] = ()) -> None:
        """Write the CSV atomically; never over an input file."""
        ensure_not_input(path, input_paths)
        atomic_write_bytes(path, self.to_csv().encode('utf-8'))
