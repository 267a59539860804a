"""Task heads (one file per task)."""
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.saliency_filter import SaliencyFilteredHead
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead

__all__ = ['BaseOVHead', 'DenseSimilarityHead', 'AdaptedSimilarityHead',
           'SaliencyFilteredHead']
