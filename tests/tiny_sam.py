"""Tiny constructor arguments of the SAM components (merged into tests/tiny.py)."""
from __future__ import annotations

TINY_SAM = dict(type='SAMWrapper', model_type='tiny', checkpoint=None)

TINY: dict[str, dict] = {
    'SAMWrapper': TINY_SAM,
    'SAMRefiner': dict(type='SAMRefiner', sam=TINY_SAM, min_area=4, iou_threshold=-1.0),
}
