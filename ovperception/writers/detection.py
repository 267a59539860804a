"""Writer for detections: box/mask overlay and a COCO-format JSON (one image)."""
from __future__ import annotations

import os

import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.annotations import to_coco_dataset, to_numpy
from ovperception.utils.atomic import atomic_save_image, atomic_write_json
from ovperception.visualization import draw_instances
from ovperception.writers.registry import register_writer


@register_writer('pred_instances', suffixes=('_det_overlay.png', '_detections.json'))
def write_detections(targets: dict[str, str], image: np.ndarray, sample: OVDataSample,
                     source_path: str) -> None:
    """Overlay (boxes, ``name score`` tags, masks) and a COCO dataset JSON.

    The JSON holds ``images`` (this image, ``file_name`` absolute), ``categories`` (the
    vocabulary, id = class index + 1) and ``annotations`` (``bbox`` [x, y, w, h],
    ``score``, ``segmentation`` as COCO RLE when the detector gives masks), so CVAT,
    Label Studio or pycocotools import it directly.
    """
    instances = sample.pred_instances
    names = list(sample.metainfo['label_names'])
    masks = instances.get('masks')
    boxes = to_numpy(instances.bboxes).reshape(-1, 4)
    if not np.isfinite(boxes).all():
        raise FloatingPointError(f'non-finite boxes in the prediction for {source_path}')
    overlay = draw_instances(image, boxes, to_numpy(instances.labels), to_numpy(instances.scores),
                             names, masks=None if masks is None else to_numpy(masks))
    atomic_save_image(targets['_det_overlay.png'], overlay)
    height, width = image.shape[:2]
    dataset = to_coco_dataset([dict(file_name=os.path.abspath(source_path), height=height,
                                    width=width)], [instances], names)
    atomic_write_json(targets['_detections.json'], dataset)
