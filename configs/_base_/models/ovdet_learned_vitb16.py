# Open-vocabulary detection with a light trainable FCOS-style proposal head (objectness,
# centerness, box distances) on frozen dense CLIP ViT-B/16 features; regions are classified
# by RoI-aligned dense features against the vocabulary (the classifier stays open-vocabulary:
# only the class-agnostic proposal head is trained, on base-class boxes).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.detection import LearnedProposals
from ovperception.models.detection import OVDetectionHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), dense_mode='naclip'),
    head=dict(type=OVDetectionHead,
              proposals=dict(type=LearnedProposals, in_channels=512, hidden_channels=256,
                             distance_scale=16.0, score_threshold=0.05, pre_nms_top_k=1000,
                             nms_iou=0.6, max_proposals=300),
              logit_scale=40.0, background_mode='image', background_top_k=3,
              analysis_stride=8, pooling='roi', score_threshold=0.05, top_k_classes=3,
              nms_iou=0.5, pos_threshold=0.8, max_per_img=100, objectness_weight=0.35),
    template_set='imagenet80',
    # Background / scene words (BIRDet's scene prompts; our list). A word equal to a class name
    # is rejected with a clear error: edit the list for your vocabulary.
    background_words=['sky', 'wall', 'floor', 'ground', 'grass', 'road', 'pavement', 'building',
                      'tree', 'water', 'sea', 'sand', 'snow', 'mountain', 'field', 'ceiling'],
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
