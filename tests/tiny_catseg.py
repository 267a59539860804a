"""Tiny constructor arguments of CAT-Seg and Mask-Adapter (merged into tests/tiny.py): the
models of their tiny configs."""
from __future__ import annotations

import os

from mmengine.config import Config

_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')


def _model(name: str) -> dict:
    return Config.fromfile(os.path.join(_CONFIGS, 'tiny', name)).model.to_dict()


_CATSEG = _model('seg_tiny_catseg.py')
TINY = {
    'CATSeg': _CATSEG,
    'CostAggregator': _CATSEG['aggregator'],
    'MaskAdapter': _model('fcclip_tiny_mask_adapter.py')['mask_adapter'],
}
