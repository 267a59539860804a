# Talk2DINO (Barsellotti et al., ICCV 2025): DINOv2 ViT-B/14 with registers as the dense backbone,
# OpenAI CLIP ViT-B/16 text embeddings mapped into its patch space by the released projection
# (lorebianchi98/Talk2DINO weights/vitb_mlp_infonce.pth: 512 -> 768, one tanh hidden layer).
# It is downloaded on first use (head weights='vitb_mlp_infonce', pinned commit and SHA-256), or
# give the file with --weights vitb_mlp_infonce.pth (converted on load; tools/convert_checkpoint.py
# talk2dino converts it once).
# Protocol defaults (its src/open_vocabulary_segmentation configs, commit 4918c2d): short side
# 448 (max long side 2048), slide 448 / 224, every window resized to 448 x 448, 7 ImageNet
# templates (raw mean), sigmoid of the cosine, PAMR per window (10 steps, dilations 1-24).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import DINOEncoder
from ovperception.models.segmentation import Talk2DINOBackbone, Talk2DINOHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=Talk2DINOBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True)),  # OpenAI weights use QuickGELU
        dino=dict(type=DINOEncoder, arch='vit_base_patch14_reg4_dinov2', pretrained='lvd142m',
                  pos_embed_resize='bicubic_offset'),  # torch-hub dinov2_vitb14_reg
        resize_dim=448, attn_scale=0.125),
    head=dict(type=Talk2DINOHead, text_dim=512, dino_dim=768, hidden_layers=1, activation='tanh',
              background_clean=False, background_clean_weight=0.2, background_threshold=0.55,
              pamr_steps=10, pamr_dilations=(1, 2, 4, 8, 12, 24), weights='vitb_mlp_infonce'),
    template_set='imagenet7',
    test_cfg=dict(mode='slide', crop_size=448, stride=224, crop_batch_size=8),
)
