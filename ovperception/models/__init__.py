"""Models: shared machinery (CLIP towers, refiners, the OVModel, windows and stitching, dense
modes, checkpoint loading, data preprocessor) and one package per task family.

Importing this package registers every model component (the registry's ``locations`` import
it on first build).
"""
from ovperception.models import (anomaly, catseg, chimera, clip, counting,  # noqa: F401
                                 detection, distillation, panoptic, refiners, segmentation,
                                 vocabulary_free)
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.catseg import CATSeg
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.models.panoptic import FCCLIP

__all__ = ['CATSeg', 'OVAnomalyModel', 'OVDataPreprocessor', 'EncodedImages', 'OVModel', 'FCCLIP']
