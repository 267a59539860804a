"""Training-free and light-head semantic segmentation: dense similarity heads, the
CLIP-DINOiser saliency filter, the Trident head, the SC-CLIP and ResCLIP backbones, LPOSS,
ExCEL pseudo-masks from image-level tags."""
from ovperception.models.segmentation.excel import ExCELModel
from ovperception.models.segmentation.lposs import LabelPropagationHead, LPOSSBackbone
from ovperception.models.segmentation.resclip import ResCLIPBackbone
from ovperception.models.segmentation.saliency_filter import SaliencyFilteredHead
from ovperception.models.segmentation.scclip import SCCLIPBackbone
from ovperception.models.segmentation.similarity import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.segmentation.trident import TridentHead

__all__ = ['AdaptedSimilarityHead', 'DenseSimilarityHead', 'ExCELModel', 'LabelPropagationHead',
           'LPOSSBackbone', 'ResCLIPBackbone',
           'SaliencyFilteredHead', 'SCCLIPBackbone', 'TridentHead']
