# AnoVL-style training-free scoring: ViT-B/16+ laion400m_e32, value-value (MaskCLIP) patch
# tokens as an extra scale, AnoVL's domain-aware state prompts (hq-deng/AnoVL
# prompt_ensemble.py: its 7 + 7 states; industrial/manufacturing templates for objects,
# industrial/textural/surface templates for the MVTec textures; raw text embeddings
# averaged), image score mixing the map maximum.
# No test-time adaptation (AnoVL's optional adapter is not implemented).
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.anomaly import WinCLIPHead

model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16-plus-240',
                  pretrained='laion400m_e32', dense_mode='maskclip'),
    head=dict(type=WinCLIPHead, template_set='anovl', texture_template_set='anovl_texture',
              # = anomaly.prompts.ANOVL_NORMAL_STATES / ANOVL_ANOMALOUS_STATES, written out: a
              # dumped config keeps values, not imported constants
              normal_states=('normal {}', 'flawless {}', 'perfect {}', 'unblemished {}',
                             '{} without flaw', '{} without defect', '{} without damage'),
              anomalous_states=('damaged {}', 'abnormal {}', 'imperfect {}', 'blemished {}',
                                '{} with flaw', '{} with defect', '{} with damage'),
              text_average='unnormalised', window_sizes=(2, 3), use_patch_scale=True,
              fuse_image_score=True, temperature=0.07, max_weight=0.5),
)
