"""Writer for panoptic segmentation: overlay, COCO-panoptic PNG + segments JSON."""
from __future__ import annotations

import os

import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.atomic import atomic_save_image, atomic_write_json
from ovperception.utils.panoptic import VOID, panoptic_labels
from ovperception.visualization import draw_sem_seg
from ovperception.writers.registry import register_writer


@register_writer('pred_panoptic_seg',
                 suffixes=('_panoptic_overlay.png', '_panoptic.png', '_panoptic.json'))
def write_panoptic_seg(targets: dict[str, str], image: np.ndarray, sample: OVDataSample,
                       source_path: str) -> None:
    """Class overlay; PNG with segment ``i`` (1-based, 0 = void) coloured
    ``(i % 256, i // 256 % 256, i // 65536)`` as in COCO panoptic; JSON listing each
    segment's id, class index and name, thing flag, area and score."""
    panoptic = sample.pred_panoptic_seg.data[0].cpu().numpy()
    names = sample.metainfo['label_names']
    labels = panoptic_labels(panoptic)
    atomic_save_image(targets['_panoptic_overlay.png'],
                      draw_sem_seg(image, np.where(labels == VOID, 255, labels), names))
    info = {s['id']: s for s in sample.metainfo.get('segments_info', [])}
    ids = np.zeros(panoptic.shape, dtype=np.int64)
    segments = []
    for index, value in enumerate(v for v in np.unique(panoptic) if v != VOID):
        ids[panoptic == value] = index + 1
        label = int(labels[panoptic == value][0])
        segments.append(dict(id=index + 1, category_id=label, label_name=names[label],
                             isthing=bool(info.get(int(value), {}).get('is_thing', True)),
                             area=int((panoptic == value).sum()),
                             score=info.get(int(value), {}).get('score')))
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    atomic_save_image(targets['_panoptic.png'], rgb)
    atomic_write_json(targets['_panoptic.json'], dict(
        file_name=os.path.abspath(source_path), height=int(panoptic.shape[0]),
        width=int(panoptic.shape[1]), panoptic_png=os.path.basename(targets['_panoptic.png']),
        label_names=list(names), segments_info=segments))
