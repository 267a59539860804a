"""Deprecated import path (kept for one release): use ``ovperception.models.panoptic.set_criterion``."""
import warnings

from ovperception.models.panoptic.set_criterion import *  # noqa: F401,F403
from ovperception.models.panoptic.set_criterion import MaskSetCriterion, SegmentTargets  # noqa: F401

warnings.warn('ovperception.models.losses is deprecated: use '
              'ovperception.models.panoptic.set_criterion', DeprecationWarning, stacklevel=2)
