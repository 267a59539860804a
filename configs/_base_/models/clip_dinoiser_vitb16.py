# CLIP-DINOiser: MaskCLIP features of a frozen OpenCLIP ViT-B/16 (laion2b_s34b_b88k) pooled with
# correlations predicted by a trained 3x3 conv on block -3 features (gamma=0.2), and a trained
# 1x1 saliency conv for the background filter (delta=0.99). Protocol (CLIP-DINOiser repo):
# 80 ImageNet templates, softmax at logit scale 100, 448 crops with stride 224; each window's
# probabilities (background filter applied on its token grid) are averaged; windows padded with
# black pixels and the grid stretched over the window; the repo's (mmseg) class names.
# `weights` = the two trained convolutions: train them with
# configs/segmentation/clip_dinoiser_vitb16_imagenet_train_448.py or use the official last.pt.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import SaliencyFilteredHead
from ovperception.models.refiners import CLIPDINOiserBackbone

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=CLIPDINOiserBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='laion2b_s34b_b88k',
                  dense_mode='maskclip'),
        feature_layer=-3, proj_channels=256, kernel_size=3, gamma=0.2, append_saliency=False,
        weights='checkpoints/clip_dinoiser/last.pt', padding='black_stretch'),
    head=dict(type=SaliencyFilteredHead, logit_scale=100.0, confidence_threshold=0.99,
              saliency_threshold=0.5, window_probabilities=True),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=448, stride=224, crop_batch_size=4),
)
