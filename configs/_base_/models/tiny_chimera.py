# Chimera-Seg with a tiny random CLIP ViT (its last block is the semantic head) and timm's tiny
# test EfficientNet as the body: tests, CI, smoke runs.
from ovperception.models.chimera import ChimeraBackbone, ChimeraSeg, TimmSegBody
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=ChimeraSeg,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=ChimeraBackbone,
                  clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                            model_kwargs=tiny_clip_kwargs),
                  body=dict(type=TimmSegBody, model_name='test_efficientnet', output_stride=8),
                  head_blocks=1),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0),
    sgd_weight=1.0, sam_weight=0.1, sgd_start_ratio=1.0, sgd_end_ratio=0.1, sgd_steps=40,
    teacher_size=64,
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
