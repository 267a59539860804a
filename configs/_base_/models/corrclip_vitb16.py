# CorrCLIP: frozen MetaCLIP ViT-B/16 (QuickGELU, metaclip_fullcc) + DINO ViT-B/8, with patch
# correlations restricted to class-agnostic regions, DINO correlation values, a spatial and a
# semantic branch, and the map correction (each region takes its majority label).
# Protocol (zdk258/CorrCLIP CorrCLIPv1, commit 103bc18): 80 ImageNet templates, 336 crops with
# stride 112, windows padded (centred) to multiples of 56, logit scale 40, both position
# embeddings resized by the DINO +0.1 bicubic rule, the repo's rounded normalisation constants,
# the repo's class-name files and pre-generated SAM 2 region masks
# (https://huggingface.co/datasets/dk258/CorrCLIP region_masks.zip, extracted to data/),
# both set per dataset config. Online SAM 2 masks instead (the repo's mask_generator='sam2',
# published as "SAM2_8"): the *_sam2 variant below, or --cfg-options with SAM2MaskGenerator.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import (DINOEncoder, PrecomputedRegionMasks,
                                          RegionVoteRefiner, SAM2MaskGenerator)
from ovperception.models.segmentation import CorrCLIPBackbone, DenseSimilarityHead

#: The repo's online generator (corrclip_segmentor.set_mask_generator, 'sam2'): SAM 2 Hiera-L,
#: 8 points per side, IoU and stability thresholds 0.4, one mask per point.
sam2_regions = dict(type=SAM2MaskGenerator, config='configs/sam2/sam2_hiera_l.yaml',
                    checkpoint='official', points_per_side=8, pred_iou_thresh=0.4,
                    stability_score_thresh=0.4, multimask_output=False)
model = dict(
    type=OVModel,
    # = refiners.proxyclip.PROXYCLIP_MEAN / PROXYCLIP_STD, written out: a dumped config keeps
    # values, not imported constants (tests/test_config_roundtrip.py checks they are equal)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=(122.771, 116.746, 104.094),
                           std=(68.501, 66.632, 70.323)),
    backbone=dict(
        type=CorrCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16-quickgelu',
                  pretrained='metaclip_fullcc', pos_embed_resize='bicubic_offset'),
        dino=dict(type=DINOEncoder, arch='vit_base_patch8_224', pretrained='dino',
                  pos_embed_resize='bicubic_offset'),
        regions=dict(type=PrecomputedRegionMasks, directory='data/region_masks/voc'),
        alpha=1.0, beta=0.5, tau=4.0, merge_eps=0.2, pad_multiple=56),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    refiners=[dict(type=RegionVoteRefiner)],
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=336, stride=112, crop_batch_size=4),
)
