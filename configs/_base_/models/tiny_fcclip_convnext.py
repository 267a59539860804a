# A tiny random-initialised FC-CLIP (ConvNeXt CLIP test trunk, 2-layer deformable pixel decoder,
# 8 queries, 3 decoder layers).
from ovperception.models import FCCLIP
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.panoptic import MSDeformAttnPixelDecoder, MaskTransformerDecoder
from ovperception.models.panoptic import MaskSetCriterion

tiny_convnext_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(timm_model_name='test_convnext', timm_model_pretrained=False, timm_pool='',
                    timm_proj='linear', image_size=64),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=FCCLIP,
    data_preprocessor=dict(type=OVDataPreprocessor, pad_size_divisor=32),
    backbone=dict(type=OpenCLIPBackbone, model_name='convnext_base', pretrained=None,
                  model_kwargs=tiny_convnext_clip_kwargs),
    pixel_decoder=dict(type=MSDeformAttnPixelDecoder, conv_dim=32, mask_dim=32,
                       num_encoder_layers=2, num_heads=2, dim_feedforward=64),
    mask_decoder=dict(type=MaskTransformerDecoder, hidden_dim=32, num_queries=8, num_heads=2,
                      dim_feedforward=64, num_layers=3),
    criterion=dict(type=MaskSetCriterion, class_weight=2.0, mask_weight=5.0, dice_weight=5.0,
                   no_object_weight=0.1),
    template_set='single',
    alpha=0.4,
    beta=0.8,
    test_cfg=dict(semantic_on=True, panoptic_on=True, instance_on=False,
                  object_mask_threshold=0.5, overlap_threshold=0.8),
)
