# A tiny random-initialised CLIP ViT (2 blocks, 64 px, patch 16) with the WinCLIP head.
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.anomaly import WinCLIPHead

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  dense_mode='maskclip', model_kwargs=tiny_clip_kwargs),
    head=dict(type=WinCLIPHead, template_set='single', window_sizes=(2,), use_patch_scale=True),
)
