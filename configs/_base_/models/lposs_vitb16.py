# LPOSS / LPOSS+ (Stojnic et al., CVPR 2025), training-free: MaskCLIP scores of a frozen OpenCLIP
# ViT-B/16 (laion2b_s34b_b88k) propagated over one k-NN graph of the DINO ViT-B/16 last-block
# values of all windows of an image (k 400, alpha 0.95, gamma 3, sigma 0.01), then (LPOSS+,
# pixel_refine=True) over the pixels (Lab colours, 13 x 13 neighbourhood, tau 0.01).
# Protocol defaults (vladan-stojnic/LPOSS configs/lposs_plus.yaml and the dataset configs):
# short side 448, slide 224 / 112, 80 ImageNet templates, windows padded with black and their
# grid stretched over the window, argmax without threshold.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import DINOEncoder
from ovperception.models.segmentation import LabelPropagationHead, LPOSSBackbone

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=LPOSSBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='laion2b_s34b_b88k',
                  dense_mode='maskclip'),
        dino=dict(type=DINOEncoder, arch='vit_base_patch16_224', pretrained='dino',
                  pos_embed_resize='bicubic_offset'),  # torch-hub dino_vitb16
        dino_features='v'),
    head=dict(type=LabelPropagationHead, alpha=0.95, k=400, gamma=3.0, sigma=0.01,
              distance_power=1.0, pixel_refine=True, radius_window=13, tau=0.01),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
