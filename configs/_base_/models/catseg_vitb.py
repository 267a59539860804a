# CAT-Seg (B): OpenAI CLIP ViT-B/16 with q/v attention fine-tuning and cost aggregation, as
# released (cvlab-kaist/CAT-Seg configs/vitb_384.yaml + eval.sh): views at 384 px (24x24
# grid), guidance from blocks 3 and 7, 2 aggregator layers (hidden 128, 4 heads, Swin window
# 12), class pooling 2x2 in training and 1x1 at test, 256 padded / pre-selected classes,
# prompt "A photo of a {} in the scene"; test: short side 640 (max 2560), resized to
# 640x640, 384-px windows with overlap 0.333 plus the whole image, sigmoid probabilities.
from ovperception.models import CATSeg
from ovperception.models.catseg import CostAggregator
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=CATSeg,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai'),
    aggregator=dict(type=CostAggregator, text_guidance_proj_dim=128,
                    appearance_guidance_proj_dim=128, decoder_dims=(64, 32),
                    decoder_guidance_proj_dims=(32, 16), num_layers=2, num_heads=4,
                    hidden_dim=128, pooling_size=(2, 2), test_pooling_size=(1, 1),
                    feature_resolution=(24, 24), window_size=12, prompt_channel=1,
                    pad_len=256),
    guidance_layers=(3, 7),
    decoder_guidance_dims=(256, 128),
    clip_resolution=384,
    clip_finetune='attention',
    test_cfg=dict(mode='slide', kernel=384, overlap=0.333, out_size=(640, 640)),
)
