# DeCLIP (xiaomoguhz/DeCLIP): EVA-02-CLIP ViT-B/16 fine-tuned by decoupled distillation, its
# `csa` dense features (softmax(qq^T) + softmax(kk^T), unscaled, no residual/FFN), training-free
# cosine head. Protocol defaults of the official zero-shot segmentation code (ZSSS branch,
# declip_segmentor.py): 80 ImageNet templates, logit scale 40, 336 crops with stride 112,
# centred zero padding of windows whose sides are not multiples of 16, bicubic
# position-embedding resize, OpenAI mean/std.
# Weights: the released EVA-B DeCLIP for zero-shot segmentation (Hugging Face
# xiaomoguhzz/DeCLIP_evab_dinov2B_csa_560_0.25_seg; the ZSSS README names the file
# checkpoints/evab_dinov2B_csa_560_0.25_seg.pt). Its EVA-CLIP layout is converted on load;
# `--weights PATH` or `tools/convert_checkpoint.py declip SRC DST` work too.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='EVA02-B-16',
                  pretrained='checkpoints/evab_dinov2B_csa_560_0.25_seg.pt',
                  dense_mode='declip', grid_remainder='centre_pad'),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=336, stride=112, crop_batch_size=16),
)
