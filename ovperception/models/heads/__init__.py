"""Task heads (one file per task)."""
from ovperception.models.heads.anomaly import AnomalyCLIPHead, WinCLIPHead
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead

__all__ = ['AnomalyCLIPHead', 'WinCLIPHead', 'BaseOVHead', 'DenseSimilarityHead',
           'AdaptedSimilarityHead']
