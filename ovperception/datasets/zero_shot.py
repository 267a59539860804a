"""Zero-shot segmentation splits: train on the seen classes of a dataset only."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ovperception.datasets.transforms import BaseTransform
from ovperception.registry import TRANSFORMS

IGNORE_INDEX = 255


@TRANSFORMS.register_module()
class SeenClassesOnly(BaseTransform):
    """Drop the unseen classes of a zero-shot split from a training sample.

    The vocabulary (``classnames``) keeps the seen classes only, in their order, and the label
    map is renumbered to it; pixels of unseen classes become ``ignore_index`` (the usual
    inductive zero-shot protocol: unseen names are never encoded, unseen pixels never
    supervised). Place it after ``LoadSegAnnotations`` and before ``PackOVInputs``.

    Args:
        unseen_classes: indices (in the dataset's vocabulary) of the unseen classes.
        ignore_index: label of pixels without supervision.
    """

    def __init__(self, unseen_classes: Sequence[int], ignore_index: int = IGNORE_INDEX) -> None:
        self.unseen_classes = tuple(sorted({int(k) for k in unseen_classes}))
        if not self.unseen_classes or min(self.unseen_classes) < 0:
            raise ValueError('unseen_classes must list at least one class index >= 0, got '
                             f'{list(unseen_classes)}')
        self.ignore_index = int(ignore_index)

    def transform(self, results: dict) -> dict:
        if not results.get('classnames'):
            raise ValueError('SeenClassesOnly needs the sample vocabulary ("classnames"): '
                             'use it with a dataset that has class names')
        classnames = list(results['classnames'])
        if max(self.unseen_classes) >= len(classnames):
            raise ValueError(f'unseen class {max(self.unseen_classes)} is out of the '
                             f'vocabulary of {len(classnames)} classes')
        seen = [k for k in range(len(classnames)) if k not in self.unseen_classes]
        lookup = np.full(max(len(classnames), self.ignore_index + 1), self.ignore_index,
                         dtype=np.int64)
        lookup[seen] = np.arange(len(seen))
        seg = results.get('gt_seg_map')
        if seg is not None:
            valid = (seg >= 0) & (seg < len(lookup))
            mapped = np.where(valid, lookup[np.clip(seg, 0, len(lookup) - 1)], self.ignore_index)
            results['gt_seg_map'] = mapped.astype(seg.dtype)
        results['classnames'] = [classnames[k] for k in seen]
        return results
