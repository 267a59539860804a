# Trident (ICCV 2025): splice-then-segment. Sliding-window CLIP ViT-B/16 features stitched into
# one map of the large image, aggregated globally with SAM ViT-B encoder affinities (SAM runs
# once per image), then coarse class regions refined with SAM box + point prompts.
# Protocol (Trident): 80 ImageNet templates, 336 crops with stride 224, logit scale 40.
# Deviation: Trident's per-window attention uses DINO ViT-B/16 features (ProxyCLIP-style);
# here the windows use ClearCLIP's attention (no DINO), see docs/refiners.md.
# SAM weights: https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth
# (pass another location with --cfg-options model.head.sam.checkpoint=PATH).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.heads import TridentHead
from ovperception.models.refiners import SAMWrapper

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  dense_mode='clearclip'),
    head=dict(
        type=TridentHead, logit_scale=40.0, prob_threshold=0.0,
        sam=dict(type=SAMWrapper, model_type='vit_b',
                 checkpoint='checkpoints/sam_vit_b_01ec64.pth'),
        aggregation=dict(grid_stride=16, cos_factor=1.2, cos_cap=0.9),
        sam_refine=dict(min_area=225, iou_threshold=0.8, num_points=1, coarse_threshold=0.1)),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=336, stride=224, crop_batch_size=16),
)
