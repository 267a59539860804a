"""Image-level tags from a label map, for methods trained from tags (ExCEL).

The tags of an image are the classes its full label map holds: the official ExCEL VOC
loader reads them per image (``cls_labels_onehot.npy``), not per crop, so this transform
runs before any crop of the pipeline.
"""
from __future__ import annotations

import numpy as np

from ovperception.datasets.transforms import BaseTransform
from ovperception.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ImageTagsFromMask(BaseTransform):
    """Set ``results['image_tags']``: the sorted class indices (into the sample's
    ``classnames``) present in ``gt_seg_map``, background and ignored pixels excluded.

    Args:
        background_index: label of the background class (None: the vocabulary has none).
        ignore_index: label of unlabelled pixels.
    """

    def __init__(self, background_index: int | None = 0, ignore_index: int = 255) -> None:
        self.background_index = background_index
        self.ignore_index = int(ignore_index)

    def transform(self, results: dict) -> dict:
        labels = results.get('gt_seg_map')
        if labels is None:
            raise ValueError(f'ImageTagsFromMask: sample {results.get("img_path", "in memory")} '
                             'has no gt_seg_map; load the annotations before this transform')
        skip = {self.ignore_index} | ({self.background_index}
                                      if self.background_index is not None else set())
        results['image_tags'] = [int(v) for v in np.unique(labels) if int(v) not in skip]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(background_index={self.background_index}, '
                f'ignore_index={self.ignore_index})')
