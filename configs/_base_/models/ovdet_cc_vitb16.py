# Training-free open-vocabulary detection on dense CLIP features: connected components of the
# dense segmentation as proposals, mask-pooled region embeddings, BIRDet-style per-image
# background embeddings (top-3 of the background words) and Partial Object Suppression.
# Dense features: NACLIP attention in the last block of a frozen OpenAI CLIP ViT-B/16.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.detection import ConnectedComponentProposals
from ovperception.models.detection import OVDetectionHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  dense_mode='naclip'),
    head=dict(type=OVDetectionHead,
              proposals=dict(type=ConnectedComponentProposals, prob_threshold=0.1, min_area=4,
                             include_foreground=True, max_proposals=300),
              logit_scale=40.0, background_mode='image', background_top_k=3,
              analysis_stride=8, pooling='auto', score_threshold=0.05, top_k_classes=3,
              nms_iou=0.5, pos_threshold=0.8, pos_mode='candidate', max_per_img=100,
              with_masks=True),
    template_set='imagenet80',
    # Background / scene words (BIRDet's scene prompts; our list). A word equal to a class name
    # is rejected with a clear error: edit the list for your vocabulary.
    background_words=['sky', 'wall', 'floor', 'ground', 'grass', 'road', 'pavement', 'building',
                      'tree', 'water', 'sea', 'sand', 'snow', 'mountain', 'field', 'ceiling'],
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
