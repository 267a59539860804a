"""Frozen CLIP towers: the only package that imports open_clip (in ``open_clip.py``)."""
from __future__ import annotations

from ovperception.models.clip import convert  # noqa: F401  (registers the EVA-CLIP converters)
from ovperception.models.clip.dense_attn import DENSE_MODES
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError

__all__ = ['DENSE_MODES', 'CheckpointMismatchError', 'OpenCLIPBackbone', 'WeightsNotFoundError']
