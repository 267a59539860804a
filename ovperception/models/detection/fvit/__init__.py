"""F-ViT: open-vocabulary two-stage detection on a frozen CLIP ViT (CLIPSelf / DeCLIP)."""
from ovperception.models.detection.fvit import convert  # noqa: F401  (registers fvit)
from ovperception.models.detection.fvit.detector import FViT
from ovperception.models.detection.fvit.pyramid import ViTSimplePyramid
from ovperception.models.detection.fvit.roi_heads import FViTBoxHead, FViTMaskHead
from ovperception.models.detection.fvit.rpn import FViTRPNHead

__all__ = ['FViT', 'ViTSimplePyramid', 'FViTRPNHead', 'FViTBoxHead', 'FViTMaskHead']
