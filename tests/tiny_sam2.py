"""Tiny constructor arguments of the SAM 2 and CorrCLIP components (merged into tests/tiny.py)."""
from __future__ import annotations

from tests.tiny import TINY_DEEPER_BACKBONE

TINY_SAM2_GENERATOR = dict(type='SAM2MaskGenerator', config='configs/sam2/sam2_hiera_t.yaml',
                           checkpoint=None, overrides='tiny', points_per_side=4,
                           pred_iou_thresh=0.0, stability_score_thresh=0.0)
TINY_SAM2 = dict(type='SAM2Wrapper', config='configs/sam2/sam2_hiera_t.yaml', checkpoint=None,
                 overrides='tiny')

TINY: dict[str, dict] = {
    'SAM2MaskGenerator': TINY_SAM2_GENERATOR,
    'SAM2Wrapper': TINY_SAM2,
    'PrecomputedRegionMasks': dict(type='PrecomputedRegionMasks', directory='region_masks'),
    'RegionVoteRefiner': dict(type='RegionVoteRefiner'),
    'CorrCLIPBackbone': dict(type='CorrCLIPBackbone', clip=TINY_DEEPER_BACKBONE,
                             dino=dict(type='DINOEncoder', arch='vit_small_patch8_224',
                                       pretrained=None,
                                       model_kwargs=dict(embed_dim=32, depth=2, num_heads=2,
                                                         img_size=64)),
                             regions=TINY_SAM2_GENERATOR, num_spatial=1),
}
