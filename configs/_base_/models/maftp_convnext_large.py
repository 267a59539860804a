# MAFT+ Large (jiaosiyu1999/MAFT-Plus, ECCV 2024) inference with its released weights: the
# FC-CLIP ConvNeXt-L architecture whose CLIP was fine-tuned (representation compensation; the
# fine-tuned CLIP is loaded as the backbone from the converted checkpoint) plus the released
# content-dependent transfer on the out-of-vocabulary classifier; classes come from the
# out-of-vocabulary classifier alone (GEOMETRIC_ENSEMBLE_ALPHA/BETA -1: alpha = beta = 1 here),
# void from the in-vocabulary head. panoptic=True for maftp_l_pano.pth, False for the semantic
# maftp_l.pth (the two releases differ in the transfer's residual form).
#   python tools/convert_checkpoint.py fcclip maftp_l.pth maftp_l_ours.pth
from ovperception.models import FCCLIP
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.panoptic import (MAFTContentTransfer, MaskSetCriterion,
                                          MaskTransformerDecoder, MSDeformAttnPixelDecoder)

model = dict(
    type=FCCLIP,
    data_preprocessor=dict(type=OVDataPreprocessor, pad_size_divisor=32),
    backbone=dict(type=OpenCLIPBackbone, model_name='convnext_large_d_320',
                  pretrained='laion2b_s29b_b131k_ft_soup'),
    pixel_decoder=dict(type=MSDeformAttnPixelDecoder, conv_dim=256, mask_dim=256,
                       num_encoder_layers=6, num_heads=8, dim_feedforward=1024, num_points=4),
    mask_decoder=dict(type=MaskTransformerDecoder, hidden_dim=256, num_queries=250,
                      num_heads=8, dim_feedforward=2048, num_layers=9),
    criterion=dict(type=MaskSetCriterion, class_weight=2.0, mask_weight=5.0, dice_weight=5.0,
                   no_object_weight=0.1, num_points=12544),
    content_transfer=dict(type=MAFTContentTransfer, num_heads=8, panoptic=False),
    content_transfer_scope='out_vocabulary',
    seen_classnames='coco_panoptic',
    alpha=1.0,
    beta=1.0,
    ensemble_on_valid_mask=False,
    template_set='vild14',
    test_cfg=dict(semantic_on=True, panoptic_on=False, instance_on=False,
                  object_mask_threshold=0.0, overlap_threshold=0.8, max_instances=100),
)
