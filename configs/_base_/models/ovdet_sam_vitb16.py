# Training-free open-vocabulary detection: SAM ViT-B automatic masks as class-agnostic
# proposals, each classified by mask-pooled dense CLIP features (NACLIP, OpenAI ViT-B/16),
# BIRDet-style per-image background embeddings and Partial Object Suppression.
# SAM weights: https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth
# (another location: --cfg-options model.head.proposals.sam.checkpoint=PATH).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.detection import SAMProposals
from ovperception.models.detection import OVDetectionHead
from ovperception.models.refiners import SAMWrapper

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), dense_mode='naclip'),
    head=dict(type=OVDetectionHead,
              proposals=dict(type=SAMProposals,
                             sam=dict(type=SAMWrapper, model_type='vit_b',
                                      checkpoint='checkpoints/sam_vit_b_01ec64.pth'),
                             points_per_side=32, points_per_batch=64, pred_iou_thresh=0.86,
                             stability_score_thresh=0.92, box_nms_thresh=0.7, min_area=64,
                             max_proposals=300),
              logit_scale=40.0, background_mode='image', background_top_k=3,
              analysis_stride=8, pooling='auto', score_threshold=0.05, top_k_classes=3,
              nms_iou=0.5, pos_threshold=0.8, max_per_img=100, with_masks=True),
    template_set='imagenet80',
    # Background / scene words (BIRDet's scene prompts; our list). A word equal to a class name
    # is rejected with a clear error: edit the list for your vocabulary.
    background_words=['sky', 'wall', 'floor', 'ground', 'grass', 'road', 'pavement', 'building',
                      'tree', 'water', 'sea', 'sand', 'snow', 'mountain', 'field', 'ceiling'],
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
