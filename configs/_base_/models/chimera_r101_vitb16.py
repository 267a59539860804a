# Chimera-Seg (arXiv 2506.22032; built from the paper, no official code): a dilated
# ResNet-101 body (output stride 16) and the CLIP Semantic Head of OpenAI CLIP ViT-B/16 (its
# last 3 blocks, ln_post and proj frozen; a 1x1 adapter and a class-token offset trained).
# Choices the paper's text available to us leaves open (body, head_blocks, loss weights, SGD
# ratios, teacher resolution, templates) are listed in docs/chimera_seg.md.
from ovperception.models.chimera import ChimeraBackbone, ChimeraSeg, TimmSegBody
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

model = dict(
    type=ChimeraSeg,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=ChimeraBackbone,
                  clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai'),
                  body=dict(type=TimmSegBody, model_name='resnet101', pretrained=True,
                            output_stride=16),
                  head_blocks=3),
    head=dict(type=DenseSimilarityHead, logit_scale=100.0),
    sgd_weight=1.0, sam_weight=0.1, sgd_start_ratio=1.0, sgd_end_ratio=0.1, sgd_steps=20000,
    teacher_size=224,
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=512, stride=341, crop_batch_size=8),
)
