"""Writer for semantic segmentation: overlay, label PNG and per-class COCO RLE JSON."""
from __future__ import annotations

import os

import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.annotations import label_map_2d, save_label_png, sem_seg_to_annotation
from ovperception.utils.atomic import atomic_save_image, atomic_write_json
from ovperception.utils.band_rle import label_counts
from ovperception.visualization import draw_sem_seg
from ovperception.writers.registry import register_writer


@register_writer('pred_sem_seg', suffixes=('_overlay.png', '_labels.png', '.json'))
def write_sem_seg(targets: dict[str, str], image: np.ndarray, sample: OVDataSample,
                  source_path: str) -> None:
    """Overlay with legend; label map (value = class index + 1, 0 = unlabelled); JSON (with
    ``chosen_names``, name/score/coverage, when a vocabulary-free model chose the names)."""
    label_map = label_map_2d(sample.pred_sem_seg.data[0].cpu().numpy())
    names = sample.metainfo['label_names']
    counts = label_counts(label_map)  # once, for the overlay's legend and the JSON's areas
    atomic_save_image(targets['_overlay.png'],  # drawn as the PNG is written
                      draw_sem_seg(image, label_map, names, banded=True, counts=counts))
    save_label_png(targets['_labels.png'], label_map, num_classes=len(names))
    annotation = sem_seg_to_annotation(label_map, names, dict(
        file_name=os.path.abspath(source_path), height=label_map.shape[0],
        width=label_map.shape[1]), counts=counts)
    annotation['label_png'] = dict(annotation.get('label_png', {}),
                                   file_name=os.path.basename(targets['_labels.png']))
    if 'chosen_names' in sample.metainfo:
        annotation['chosen_names'] = sample.metainfo['chosen_names']
    atomic_write_json(targets['.json'], annotation)
