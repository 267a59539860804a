"""Task heads (one file per task)."""
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.heads.counting import BlockwiseCountingHead
from ovperception.models.heads.trident import TridentHead

__all__ = ['BaseOVHead', 'DenseSimilarityHead', 'AdaptedSimilarityHead', 'TridentHead',
           'BlockwiseCountingHead']
