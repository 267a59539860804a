# CorrCLIP with a tiny random CLIP ViT (patch 16, 3 blocks, 1 spatial block), a tiny random DINO
# ViT (patch 8) and a tiny random SAM 2 (Hiera, 256-pixel input) as the online region source.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import DINOEncoder, RegionVoteRefiner, SAM2MaskGenerator
from ovperception.models.segmentation import CorrCLIPBackbone, DenseSimilarityHead

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=3, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=CorrCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  model_kwargs=tiny_clip_kwargs, pos_embed_resize='bicubic_offset'),
        dino=dict(type=DINOEncoder, arch='vit_small_patch8_224', pretrained=None,
                  pos_embed_resize='bicubic_offset',
                  model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=64)),
        regions=dict(type=SAM2MaskGenerator, config='configs/sam2/sam2_hiera_t.yaml',
                     checkpoint=None, overrides='tiny', points_per_side=4,
                     pred_iou_thresh=0.0, stability_score_thresh=0.0),
        num_spatial=1),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0),
    refiners=[dict(type=RegionVoteRefiner)],
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
