"""Deprecated import path (kept for one release): FC-CLIP lives in ``ovperception.models.panoptic``."""
import warnings

from ovperception.models.panoptic import FCCLIP

warnings.warn('ovperception.models.segmentors is deprecated: use ovperception.models.panoptic',
              DeprecationWarning, stacklevel=2)

__all__ = ['FCCLIP']
