"""Task heads (one file per task)."""
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.heads.counting import BlockwiseCountingHead

__all__ = ['BaseOVHead', 'DenseSimilarityHead', 'AdaptedSimilarityHead', 'BlockwiseCountingHead']
