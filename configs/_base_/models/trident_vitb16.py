# Trident (ICCV 2025): splice-then-segment. Sub-images (336 crops, stride 224) are encoded by
# CLIP ViT-B/16 whose last attention is ProxyCLIP-style proxy attention from DINO ViT-B/16
# (beta 1.2, gamma 3.0, per the Trident repo); their dense features are spliced into one map of
# the large image, aggregated globally with SAM ViT-B encoder affinities (SAM runs once per
# image), re-normalised and matched with the text (aggregate_on='features'); the coarse class
# regions are then refined with SAM box + point prompts.
# Protocol (Trident): 80 ImageNet templates, 336 crops with stride 224, logit scale 40; the repo's
# rounded normalisation constants, +0.1 bicubic position-embedding resize of CLIP and DINO,
# proxy-attention mean over all windows of an image (one image per batch, all its windows in one
# crop batch), aggregation of the raw last-block tokens on SAM's valid grid with SAM's own
# attention (aggregate_on='tokens'), per-dataset cos factors and coarse thresholds (dataset
# configs), the repo's class files.
# Weights (never downloaded by the library):
#   SAM:  https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth
#         (another location: --cfg-options model.head.sam.checkpoint=PATH)
#   DINO: dino_vitbase16_pretrain.pth (torch hub checkpoint folder) or timm's
#         vit_base_patch16_224.dino in the Hugging Face cache (model.backbone.proxy.pretrained=PATH)
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import TridentHead
from ovperception.models.refiners import DINOEncoder, ProxyCLIPBackbone, SAMWrapper

model = dict(
    type=OVModel,
    # = refiners.proxyclip.PROXYCLIP_MEAN / PROXYCLIP_STD, written out: a dumped config keeps
    # values, not imported constants (tests/test_config_roundtrip.py checks they are equal)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=(122.771, 116.746, 104.094),
                           std=(68.501, 66.632, 70.323)),
    backbone=dict(
        type=ProxyCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  pos_embed_resize='bicubic_offset'),
        proxy=dict(type=DINOEncoder, arch='vit_base_patch16_224', pretrained='dino',
                   pos_embed_resize='bicubic_offset'),
        beta=1.2, gamma=3.0, output_grid='proxy', proxy_features='tokens',
        pad_multiple=56, padding='centre', similarity_mean='batch', project=False),
    head=dict(
        type=TridentHead, logit_scale=40.0, prob_threshold=0.0, aggregate_on='tokens',
        sam_splits=1, refine_negative=True, sam_input='original', sam_refine_style='official',
        sam=dict(type=SAMWrapper, model_type='vit_b',
                 checkpoint='checkpoints/sam_vit_b_01ec64.pth'),
        aggregation=dict(grid_stride=16, cos_factor=1.2, cos_cap=0.9),
        sam_refine=dict(min_area=225, iou_threshold=0.8, num_points=1, coarse_threshold=0.2)),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=336, stride=224, crop_batch_size=64),
)
