# SC-CLIP with a tiny random-initialised CLIP ViT (4 blocks, 64 px, patch 16): tests, CI and
# smoke runs. Layer indices scaled to the 4 blocks; the rest as configs/_base_/models/scclip_vitb16.py.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead, SCCLIPBackbone

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=4, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=SCCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  model_kwargs=tiny_clip_kwargs, pos_embed_resize='bicubic_offset',
                  grid_remainder='drop'),
        pre_adjust_layer=2, post_adjust_layer=0, fusion_layers=(0, 3)),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0),
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
