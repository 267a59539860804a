# Talk2DINO with a tiny random CLIP text tower, a tiny random DINOv2 with registers (patch 14)
# and a random projection: tests, CI and smoke runs. Otherwise as talk2dino_vitb14.py.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import DINOEncoder
from ovperception.models.segmentation import Talk2DINOBackbone, Talk2DINOHead

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=Talk2DINOBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  model_kwargs=tiny_clip_kwargs),
        dino=dict(type=DINOEncoder, arch='vit_small_patch14_reg4_dinov2', pretrained=None,
                  pos_embed_resize='bicubic_offset',
                  model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=56)),
        resize_dim=56),
    head=dict(type=Talk2DINOHead, text_dim=32, dino_dim=32, pamr_steps=2),
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
