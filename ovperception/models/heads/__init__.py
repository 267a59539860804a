"""Task heads (one file per task)."""
from ovperception.models.heads.anomaly import AnomalyCLIPHead, WinCLIPHead
from ovperception.models.heads.base import BaseOVHead
from ovperception.models.heads.content_transfer import ContentDependentTransfer
from ovperception.models.heads.counting import BlockwiseCountingHead
from ovperception.models.heads.detection import OVDetectionHead
from ovperception.models.heads.mask_decoder import MaskTransformerDecoder
from ovperception.models.heads.pixel_decoder import FPNPixelDecoder
from ovperception.models.heads.saliency_filter import SaliencyFilteredHead
from ovperception.models.heads.segmentation import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.heads.trident import TridentHead

__all__ = ['AnomalyCLIPHead', 'WinCLIPHead', 'BaseOVHead', 'BlockwiseCountingHead',
           'OVDetectionHead', 'SaliencyFilteredHead', 'ContentDependentTransfer',
           'MaskTransformerDecoder', 'FPNPixelDecoder', 'AdaptedSimilarityHead',
           'DenseSimilarityHead', 'TridentHead']
