# CAT-Seg (L): OpenAI CLIP ViT-L/14@336px, as released (configs/vitl_336.yaml + eval.sh):
# views resized to 336 px (24x24 grid), guidance from blocks 7 and 15; everything else as
# catseg_vitb.py (384-px windows, each resized to 336 for CLIP).
from mmengine.config import read_base

with read_base():
    from .catseg_vitb import *

model.update(
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai'),
    guidance_layers=(7, 15),
    clip_resolution=336,
)
