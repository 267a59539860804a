"""Large-vocabulary semantic benchmarks of open-vocabulary segmentation (A-847, PC-459).

Both use detectron2's prepared layout (uint16 ``.tif`` label maps, 65535 = ignore; set
``ignore_index=65535`` in the dataset, ``LoadSegAnnotations`` and ``IoUMetric`` - the 255
convention cannot be used with more than 255 classes).

* ADE20K-full (847 classes): ``images/validation/*.jpg`` and
  ``annotations_detectron2/validation/*.tif`` (``prepare_ade20k_full_sem_seg.py``). No
  class-name file ships with ovperception (the published 847-name list repeats names across
  classes, which a vocabulary cannot hold): pass ``classnames_file=`` with 847 lines in
  label order.
* Pascal Context full (459 classes): ``JPEGImages/*.jpg`` and
  ``annotations_detectron2/pc459_val/*.tif`` (``prepare_pascal_context.py``), vocabulary
  ``classnames/context459.txt``.
"""
from __future__ import annotations

from ovperception.datasets.segmentation import OVSegDataset, _layout
from ovperception.registry import DATASETS

LARGE_IGNORE_INDEX = 65535


@DATASETS.register_module()
class ADE20KFullDataset(OVSegDataset):
    """ADE20K-full validation, 847 classes (``classnames_file=`` required)."""

    DEFAULTS = _layout('images/validation', 'annotations_detectron2/validation',
                       seg_map_suffix='.tif')


@DATASETS.register_module()
class PascalContext459Dataset(OVSegDataset):
    """Pascal Context full validation, 459 classes."""

    CLASSNAMES_FILE = 'context459'
    DEFAULTS = _layout('JPEGImages', 'annotations_detectron2/pc459_val', seg_map_suffix='.tif')


__all__ = ['ADE20KFullDataset', 'PascalContext459Dataset', 'LARGE_IGNORE_INDEX']
