# WinCLIP (training-free): OpenCLIP ViT-B/16+ laion400m, 240 px, 2x2 + 3x3 windows.
# Prompts and text averaging follow the reimplementations whose numbers the WinCLIP configs
# record (zqhang/Accurate-WinCLIP-pytorch; anomalib uses the same): 7 normal / 4 anomalous
# states x their 21 templates, raw (unnormalised) text embeddings averaged, then normalised.
# Image score: the class token's anomalous probability (max_weight=0), as both do.
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.anomaly import WinCLIPHead

model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16-plus-240',
                  pretrained='laion400m_e31', dense_mode='vanilla'),
    head=dict(type=WinCLIPHead, template_set='winclip', text_average='unnormalised',
              window_sizes=(2, 3), use_patch_scale=False, fuse_image_score=True,
              temperature=0.07, max_weight=0.0),
)
