"""Models: backbones, heads, refiners and the OVModel that ties them together.

Importing this package registers every model component (the registry's
``locations`` import it on first build).
"""
from ovperception.models import (anomaly, clip, counting, detection, heads,  # noqa: F401
                                 losses, refiners, segmentors)
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.models.segmentors import FCCLIP

__all__ = ['OVAnomalyModel', 'OVDataPreprocessor', 'EncodedImages', 'OVModel', 'FCCLIP']
