# Zero-shot class-agnostic counting, PseCo-style "point, segment, count", training-free:
# dense CLIP ViT-B/16 class probabilities (NACLIP attention, class name vs background words)
# -> heat-map peaks as point prompts -> SAM ViT-H masks (3 per point, best kept) -> mask score =
# mean class probability in the mask x SAM IoU -> area filter, threshold, box NMS -> count.
# PseCo's rules (Hzzone/PseCo aab6cdb, models.py PointDecoder, fsc147/4_1_train_roi_head.py):
# peaks kept when score >= threshold, SAM prompted at cell * stride (no + 0.5), SAM's raw
# predicted IoU (no clamp; our earlier rules: clamp_iou=True, point_offset=0.5,
# peak_inclusive=False, effect in docs/fidelity.md).
# Deviation: PseCo learns a point decoder and a CLIP-distilled ROI classifier; both are replaced
# by CLIP/SAM steps here (docs/counting.md).
# SAM weights: https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth
# (pass another location with --sam-checkpoint PATH or model.head.sam.checkpoint=PATH).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.counting import ZeroShotCountingHead
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import SAMWrapper

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), dense_mode='naclip'),
    head=dict(type=ZeroShotCountingHead, logit_scale=50.0,
              sam=dict(type=SAMWrapper, model_type='vit_h',
                       checkpoint='checkpoints/sam_vit_h_4b8939.pth', prompt_batch_size=64),
              peak_stride=8, peak_kernel=3, peak_threshold=0.3, max_points=1000,
              multimask=True, point_batch=32, score_threshold=0.3, nms_iou=0.5,
              min_box_area=10, max_box_area_ratio=0.75, exemplar_weight=0.0,
              return_masks=True, clamp_iou=False, point_offset=0.0, peak_inclusive=True),
    template_set='imagenet80',
    background_words=['background', 'floor', 'wall', 'table', 'ground'],
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
