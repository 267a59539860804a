# CAT-Seg at tiny sizes on a random CLIP ViT (64 px views, patch 8 -> 8x8 grid, window 4 so
# that the shifted Swin block runs): tests, CI and smoke runs.
from ovperception.models import CATSeg
from ovperception.models.catseg import CostAggregator
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

tiny_catseg_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=8, width=48, layers=3, head_width=16),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=CATSeg,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  model_kwargs=tiny_catseg_clip_kwargs),
    aggregator=dict(type=CostAggregator, text_guidance_proj_dim=16,
                    appearance_guidance_proj_dim=16, decoder_dims=(32, 16),
                    decoder_guidance_proj_dims=(16, 16), num_layers=2, num_heads=2,
                    hidden_dim=32, pooling_size=(2, 2), feature_resolution=(8, 8),
                    window_size=4, pad_len=8),
    guidance_layers=(0, 1),
    decoder_guidance_dims=(32, 16),
    clip_resolution=64,
    test_cfg=dict(mode='slide', kernel=64, overlap=0.5, out_size=(96, 96)),
)
