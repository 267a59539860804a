# AdaCLIP as released (caoyunkang/AdaCLIP e27ee32, train.py / test.py defaults): frozen OpenAI
# ViT-L/14@336 at 518 px run with exact GELU (the release builds CLIP from model_configs/
# ViT-L-14-336.json, which has no quick_gelu), position embeddings resized bicubically
# (24x24 -> 37x37) at load; hybrid prompts 'SD' in both towers 'VL' (5 tokens, 4 blocks);
# maps from blocks 6/12/18/24 (features_list = n_layers // 4 steps), upsampled to 518 px,
# averaged over layers, soft-maxed; image score with hybrid semantic fusion (k-means, 20
# clusters, alpha 0.2). The released checkpoints (pretrained_{mvtec_colondb,visa_clinicdb,
# all}.pth) load with --weights (converter 'adaclip'). HSF needs scikit-learn
# (pip install 'ovperception[adaclip]').
from ovperception.models.anomaly import ADACLIP_RELEASED_LAYERS, AdaCLIPHead, OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai',
                  model_kwargs=dict(quick_gelu=False), pos_embed_resize='bicubic'),
    head=dict(type=AdaCLIPHead, embed_dim=768, visual_width=1024, text_width=768,
              feature_layers=ADACLIP_RELEASED_LAYERS, prompt_length=5, prompt_depth=4,
              dynamic_prompts=True, use_hsf=True, k_clusters=20, hsf_alpha=0.2,
              logit_scale=100.0, half_cast_prompts=True, dice_reduction='row',
              focal_smooth=1e-5),
)
