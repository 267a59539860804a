"""FC-CLIP and its parts: segmentor, pixel and mask decoders, in/out-vocabulary ensemble,
content-dependent transfer, mask inference (semantic / panoptic / instance), set criterion."""
from ovperception.models.panoptic import convert  # noqa: F401  (registers the 'fcclip' converter)
from ovperception.models.panoptic.content_transfer import (ContentDependentTransfer,
                                                            MAFTContentTransfer)
from ovperception.models.panoptic.ensemble import geometric_ensemble
from ovperception.models.panoptic.fcclip import FCCLIP
from ovperception.models.panoptic.mask_adapter import MaskAdapter
from ovperception.models.panoptic.mask_decoder import MaskTransformerDecoder
from ovperception.models.panoptic.mask_inference import (instance_inference, panoptic_inference,
                                                         semantic_inference)
from ovperception.models.panoptic.pixel_decoder import FPNPixelDecoder, MSDeformAttnPixelDecoder
from ovperception.models.panoptic.set_criterion import MaskSetCriterion, SegmentTargets

__all__ = ['FCCLIP', 'ContentDependentTransfer', 'FPNPixelDecoder', 'MAFTContentTransfer',
           'MSDeformAttnPixelDecoder', 'MaskAdapter', 'MaskSetCriterion', 'MaskTransformerDecoder',
           'SegmentTargets', 'geometric_ensemble', 'instance_inference', 'panoptic_inference',
           'semantic_inference']
