# CLIP-DINOiser training model with a tiny random CLIP ViT and a tiny random DINO teacher.
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import SaliencyFilteredHead
from ovperception.models.refiners import CLIPDINOiserBackbone, CLIPDINOiserDistiller, DINOEncoder

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=CLIPDINOiserDistiller,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=CLIPDINOiserBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  dense_mode='maskclip', model_kwargs=tiny_clip_kwargs),
        feature_layer=0, proj_channels=16, gamma=0.2, append_saliency=True),
    teacher=dict(type=DINOEncoder, arch='vit_small_patch16_224', pretrained=None,
                 model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=64)),
    head=dict(type=SaliencyFilteredHead, logit_scale=40.0),
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
