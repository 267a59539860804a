"""Deprecated import path (kept for one release): every head now lives in its task's package.

``from ovperception.models.heads import X`` keeps working and warns once; import from
``ovperception.models.{segmentation,panoptic,detection,counting,anomaly}`` instead (see
docs/architecture.md). Registry names and config ``type=`` strings are unchanged.
"""
import warnings

from ovperception.models.anomaly import AnomalyCLIPHead, WinCLIPHead
from ovperception.models.base_head import BaseOVHead
from ovperception.models.counting import BlockwiseCountingHead
from ovperception.models.detection import OVDetectionHead
from ovperception.models.panoptic import (ContentDependentTransfer, FPNPixelDecoder,
                                          MaskTransformerDecoder)
from ovperception.models.segmentation import (AdaptedSimilarityHead, DenseSimilarityHead,
                                              SaliencyFilteredHead, TridentHead)

warnings.warn('ovperception.models.heads is deprecated: import heads from their task package '
              '(ovperception.models.segmentation, .panoptic, .detection, .counting, .anomaly)',
              DeprecationWarning, stacklevel=2)

__all__ = ['AnomalyCLIPHead', 'WinCLIPHead', 'BaseOVHead', 'BlockwiseCountingHead',
           'OVDetectionHead', 'SaliencyFilteredHead', 'ContentDependentTransfer',
           'MaskTransformerDecoder', 'FPNPixelDecoder', 'AdaptedSimilarityHead',
           'DenseSimilarityHead', 'TridentHead']
