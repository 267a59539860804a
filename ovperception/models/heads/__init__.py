"""Task heads (one file per task)."""
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.content_transfer import ContentDependentTransfer
from ovperception.models.heads.mask_decoder import MaskTransformerDecoder
from ovperception.models.heads.pixel_decoder import FPNPixelDecoder
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead

__all__ = ['BaseOVHead', 'DenseSimilarityHead', 'AdaptedSimilarityHead', 'FPNPixelDecoder',
           'MaskTransformerDecoder', 'ContentDependentTransfer']
