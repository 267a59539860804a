"""Task heads (one file per task)."""
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.detection import OVDetectionHead
from ovperception.models.heads.saliency_filter import SaliencyFilteredHead
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.heads.trident import TridentHead

__all__ = ['BaseOVHead', 'OVDetectionHead', 'SaliencyFilteredHead', 'AdaptedSimilarityHead',
           'DenseSimilarityHead', 'TridentHead']
