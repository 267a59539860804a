# CAT-Seg (L): OpenAI CLIP ViT-L/14@336px, as released (cvlab-kaist/CAT-Seg
# configs/vitl_336.yaml + eval.sh): views resized to 336 px (24x24 grid), guidance from blocks
# 7 and 15; everything else as catseg_vitb.py (384-px windows, each resized to 336 for CLIP).
from ovperception.models import CATSeg
from ovperception.models.catseg import CostAggregator
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=CATSeg,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai'),
    aggregator=dict(type=CostAggregator, text_guidance_proj_dim=128,
                    appearance_guidance_proj_dim=128, decoder_dims=(64, 32),
                    decoder_guidance_proj_dims=(32, 16), num_layers=2, num_heads=4,
                    hidden_dim=128, pooling_size=(2, 2), test_pooling_size=(1, 1),
                    feature_resolution=(24, 24), window_size=12, prompt_channel=1,
                    pad_len=256),
    guidance_layers=(7, 15),
    decoder_guidance_dims=(256, 128),
    clip_resolution=336,
    clip_finetune='attention',
    test_cfg=dict(mode='slide', kernel=384, overlap=0.333, out_size=(640, 640)),
)
