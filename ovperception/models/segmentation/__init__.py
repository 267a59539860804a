"""Training-free and light-head semantic segmentation: dense similarity heads, the
CLIP-DINOiser saliency filter, the Trident head and the SC-CLIP backbone."""
from ovperception.models.segmentation.saliency_filter import SaliencyFilteredHead
from ovperception.models.segmentation.scclip import SCCLIPBackbone
from ovperception.models.segmentation.similarity import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.segmentation.trident import TridentHead

__all__ = ['AdaptedSimilarityHead', 'DenseSimilarityHead', 'SaliencyFilteredHead', 'SCCLIPBackbone',
           'TridentHead']
