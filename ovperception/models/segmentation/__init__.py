"""Training-free and light-head semantic segmentation: dense similarity heads, the
CLIP-DINOiser saliency filter, the Trident head, the SC-CLIP, ResCLIP and CorrCLIP backbones,
LPOSS, Talk2DINO, CASS, ExCEL pseudo-masks from image-level tags."""
from ovperception.models.segmentation.cass import CASSBackbone, CASSHead
from ovperception.models.segmentation.corrclip import CorrCLIPBackbone
from ovperception.models.segmentation.excel import ExCELModel
from ovperception.models.segmentation.excel_head import ExCELSegHead
from ovperception.models.segmentation import excel_convert  # noqa: F401,E402  (registers 'excel')
from ovperception.models.segmentation.lposs import LabelPropagationHead, LPOSSBackbone
from ovperception.models.segmentation.resclip import ResCLIPBackbone
from ovperception.models.segmentation.saliency_filter import SaliencyFilteredHead
from ovperception.models.segmentation.scclip import SCCLIPBackbone
from ovperception.models.segmentation.similarity import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.models.segmentation.talk2dino import Talk2DINOBackbone, Talk2DINOHead
from ovperception.models.segmentation.trident import TridentHead

__all__ = ['AdaptedSimilarityHead', 'CASSBackbone', 'CASSHead', 'CorrCLIPBackbone',
           'DenseSimilarityHead', 'ExCELModel', 'ExCELSegHead', 'LabelPropagationHead',
           'LPOSSBackbone', 'ResCLIPBackbone',
           'SaliencyFilteredHead', 'SCCLIPBackbone', 'Talk2DINOBackbone', 'Talk2DINOHead',
           'TridentHead']
