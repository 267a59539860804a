"""Tiny constructor arguments of the SAM components (merged into tests/tiny.py)."""
from __future__ import annotations

TINY_SAM = dict(type='SAMWrapper', model_type='tiny', checkpoint=None)

TINY: dict[str, dict] = {
    'SAMWrapper': TINY_SAM,
    'SAMRefiner': dict(type='SAMRefiner', sam=TINY_SAM, min_area=4, iou_threshold=-1.0),
    'SAMAffinityAggregation': dict(type='SAMAffinityAggregation', sam=TINY_SAM, grid_stride=16),
    'TridentHead': dict(type='TridentHead', sam=TINY_SAM, aggregation=dict(grid_stride=16),
                        sam_refine=dict(min_area=4)),
}
