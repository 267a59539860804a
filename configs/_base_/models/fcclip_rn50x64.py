# FC-CLIP with a frozen ResNet-50x64 CLIP (OpenAI weights), as released (bytedance/fc-clip
# configs/coco/panoptic-segmentation/fcclip/fcclip_convnext_large_eval_ade20k_r50x64.yaml):
# the ConvNeXt-L model's heads with a 1024-d class embedding, the out-of-vocabulary classifier
# pools with CLIP's attention pool restricted to each mask, and only non-empty masks are
# ensembled (ENSEMBLE_ON_VALID_MASK: True).
from ovperception.models import FCCLIP
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.panoptic import MSDeformAttnPixelDecoder, MaskTransformerDecoder
from ovperception.models.panoptic import MaskSetCriterion

model = dict(
    type=FCCLIP,
    data_preprocessor=dict(type=OVDataPreprocessor, pad_size_divisor=32),
    backbone=dict(type=OpenCLIPBackbone, model_name='RN50x64', pretrained='openai'),
    pixel_decoder=dict(type=MSDeformAttnPixelDecoder, conv_dim=256, mask_dim=256,
                       num_encoder_layers=6, num_heads=8, dim_feedforward=1024, num_points=4),
    mask_decoder=dict(type=MaskTransformerDecoder, hidden_dim=256, num_queries=250,
                      num_heads=8, dim_feedforward=2048, num_layers=9),
    criterion=dict(type=MaskSetCriterion, class_weight=2.0, mask_weight=5.0, dice_weight=5.0,
                   no_object_weight=0.1, num_points=12544),
    seen_classnames='coco_panoptic',
    alpha=0.4,
    beta=0.8,
    ensemble_on_valid_mask=True,
    template_set='vild14',
    test_cfg=dict(semantic_on=True, panoptic_on=True, instance_on=False,
                  object_mask_threshold=0.0, overlap_threshold=0.8, max_instances=100),
)
