# AnomalyCLIP: frozen OpenAI ViT-L/14@336 at 518 px, object-agnostic learnable prompts
# (12 context tokens, deep prompts in 9 text layers, 4 tokens each), maps from blocks
# 6/12/18/24 (0-based 5/11/17/23), the last through the value-value (ClearCLIP) path.
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.anomaly import AnomalyCLIPHead

model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), dense_mode='clearclip'),
    head=dict(type=AnomalyCLIPHead, n_ctx=12, deep_depth=9, deep_n_ctx=4,
              feature_layers=(5, 11, 17, 23), dense_last=True, temperature=0.07,
              text_width=768),
)
