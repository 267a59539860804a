# F-ViT (wusize/CLIPSelf F-ViT, as released): a frozen EVA-02-CLIP ViT-B/16 (CLIPSelf-refined in
# the released detectors) -> blocks 3, 5, 7, 11 -> simple pyramid + FPN (256) -> RPN -> RoI heads
# with open-vocabulary box embeddings, ensembled with the frozen CLIP's RoI features.
# The released files carry the vision tower and heads (tools/convert_checkpoint.py fvit); the
# text tower comes from `pretrained` (EVA02_CLIP_B_psz16_s8B = open_clip merged2b_s8b_b131k).
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.detection import FViT, FViTBoxHead, FViTRPNHead, ViTSimplePyramid

model = dict(
    type=FViT,
    # the released pipelines normalise with ImageNet statistics (not CLIP's)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375]),
    backbone=dict(type=OpenCLIPBackbone, model_name='EVA02-B-16', pretrained='merged2b_s8b_b131k',
                  dense_mode='maskclip'),
    out_indices=[3, 5, 7, 11],
    neck=dict(type=ViTSimplePyramid, in_channels=768, out_channels=256),
    rpn_head=dict(type=FViTRPNHead, in_channels=256, feat_channels=256, num_convs=2,
                  strides=[4, 8, 16, 32, 64]),
    box_head=dict(type=FViTBoxHead, in_channels=256, conv_channels=256, embed_dim=512),
    seen_classnames='ov_coco_base', alpha=0.1, beta=0.8, vlm_temperature=75.0,
    template_set='vild14',
    test_cfg=dict(score_thr=0.01, nms_iou=0.4, max_per_img=100, pad_to=640),
    train_cfg=dict(background_weight=0.6, pad_to=640),
)
