"""Generated panoptic images: the synthetic shapes with an instance map.

Same images and semantic labels as :class:`SyntheticSegDataset`; the background (class 0)
is stuff, every shape class is a thing whose 8-connected components are its instances.
Samples carry ``gt_panoptic_map`` (see :mod:`ovperception.utils.panoptic`) and ``is_thing``.
"""
from __future__ import annotations

from typing import Any

from ovperception.datasets.synthetic import SyntheticSegDataset
from ovperception.registry import DATASETS
from ovperception.utils.panoptic import semantic_to_panoptic


@DATASETS.register_module()
class SyntheticPanopticDataset(SyntheticSegDataset):
    """:class:`SyntheticSegDataset` plus panoptic ground truth (arguments identical)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_thing = [False] + [True] * (self.num_classes - 1)
        self._metainfo.update(is_thing=list(self.is_thing))

    def get_data_info(self, idx: int) -> dict:
        """The semantic record plus ``gt_panoptic_map`` (H, W) int64 and ``is_thing``."""
        info = super().get_data_info(idx)
        info['gt_panoptic_map'] = semantic_to_panoptic(info['gt_seg_map'], self.is_thing)
        info['is_thing'] = list(self.is_thing)
        info['seg_fields'] = ['gt_seg_map', 'gt_panoptic_map']
        return info


__all__ = ['SyntheticPanopticDataset']
