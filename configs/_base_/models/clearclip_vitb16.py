# clearclip dense features from a frozen OpenAI CLIP ViT-B/16, training-free cosine head.
# Protocol defaults (ClearCLIP repository): 80 ImageNet templates, logit scale 50, 448 crops
# with stride 224, centred padding of windows whose sides are not multiples of 16.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  dense_mode='clearclip',
                  # the official position-embedding resize (bicubic, scale (G + 0.1) / 14) and
                  # remainder handling (centred zero padding)
                  pos_embed_resize='bicubic_offset', grid_remainder='centre_pad'),
    head=dict(type=DenseSimilarityHead, logit_scale=50.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=448, stride=224, crop_batch_size=16),
)
