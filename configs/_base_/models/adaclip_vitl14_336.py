# AdaCLIP as released (caoyunkang/AdaCLIP e27ee32, train.py / test.py defaults): frozen OpenAI
# ViT-L/14@336 at 518 px run with exact GELU (the release builds CLIP from model_configs/
# ViT-L-14-336.json, which has no quick_gelu), position embeddings resized bicubically
# (24x24 -> 37x37) at load; hybrid prompts 'SD' in both towers 'VL' (5 tokens, 4 blocks);
# maps from blocks 6/12/18/24 (features_list = n_layers // 4 steps), upsampled to 518 px,
# averaged over layers, soft-maxed; image score with hybrid semantic fusion (k-means, 20
# clusters, alpha 0.2). The released checkpoints (pretrained_{mvtec_colondb,visa_clinicdb,
# all}.pth) load with --weights (converter 'adaclip'). HSF needs scikit-learn
# (pip install 'ovperception[adaclip]').
from ovperception.datasets.anomaly import LoadAnomalyMask, PackAnomalyInputs, ResizeAnomaly
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.models.anomaly import AdaCLIPHead, OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai',
                  model_kwargs=dict(quick_gelu=False), pos_embed_resize='bicubic'),
    head=dict(type=AdaCLIPHead, embed_dim=768, visual_width=1024, text_width=768,
              # = anomaly.ADACLIP_RELEASED_LAYERS, written out: a dumped config keeps values
              feature_layers=(5, 11, 17, 23), prompt_length=5, prompt_depth=4,
              dynamic_prompts=True, use_hsf=True, k_clusters=20, hsf_alpha=0.2,
              logit_scale=100.0, half_cast_prompts=True, dice_reduction='row',
              focal_smooth=1e-5),
)

# The release's test / train transform: torchvision Resize((518, 518)) bicubic on the PIL image
# (masks bilinear, then > 0.5), no crop left (the centre crop keeps all 518 px).
adaclip_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(518, 518), backend='pillow'),
    dict(type=PackAnomalyInputs),
]
# Metrics as AdaCLIP's tools/metrics.py (per category, then averaged): image and pixel AUROC,
# AP and F1-max on maps smoothed with sigma 4 (method/trainer.py); it computes no AUPRO.
adaclip_metrics = dict(gaussian_sigma=4.0, metrics=('image_AUROC', 'image_AP', 'image_F1max',
                                                    'pixel_AUROC', 'pixel_AP', 'pixel_F1max'))
# The release prompts with the category folder names as they are (`metal_nut`, `pcb1`,
# `chewinggum`; only '-' becomes a space), not our readable object names.
adaclip_dataset = dict(pipeline=adaclip_pipeline, object_names='category')
