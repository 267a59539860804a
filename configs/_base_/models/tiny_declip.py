# DeCLIP distillation with a tiny random CLIP ViT student (and its frozen copy as the content
# teacher) and a tiny random DINO as the context teacher: tests, CI, smoke runs.
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.distillation import DeCLIPDistiller
from ovperception.models.refiners import DINOEncoder
from ovperception.models.segmentation import DenseSimilarityHead

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=DeCLIPDistiller,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  dense_mode='declip_qq', model_kwargs=tiny_clip_kwargs, frozen=False),
    vfm=dict(type=DINOEncoder, arch='vit_small_patch16_224', pretrained=None,
             model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=64)),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0),
    trainable_blocks=1, max_split=3, max_boxes=20, crop_size=64, context='qq',
    content_weight=1.0, context_weight=0.1,
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
