# sclip dense features from a frozen OpenAI CLIP ViT-B/16, training-free cosine head.
# Protocol defaults (SCLIP repository): 80 ImageNet templates, 224 crops with stride 112, the
# patch grid of a window drops the remainder (floor grid) and is stretched over the window.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  dense_mode='sclip',
                  # the official position-embedding resize (bicubic, scale (G + 0.1) / 14) and
                  # remainder handling (floor grid stretched over the window)
                  pos_embed_resize='bicubic_offset', grid_remainder='drop'),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
