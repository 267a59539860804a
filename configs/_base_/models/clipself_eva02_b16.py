# CLIPSelf (wusize/CLIPSelf): EVA-02-CLIP EVA02-B-16 refined by self-distillation; its dense
# features are CLIPSelf's encode_dense: the last block keeps residual and FFN with the
# attention replaced by the value path (our 'maskclip' mode on the EVA tower), bicubic
# position-embedding resize. Weights: the released eva_vitb16_coco_clipself_proposals.pt (CLIPSelf README
# table; Google Drive folder 1APWIE7M5zcymbjh5OONqXdBOxFy3Ghwm; the patches / LVIS variants
# load the same way), EVA-CLIP layout converted on load, or --weights PATH.
# CLIPSelf publishes no training-free segmentation protocol: the head and windows below are
# this framework's defaults (no published number is attached to this backbone).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='EVA02-B-16',
                  pretrained='checkpoints/eva_vitb16_coco_clipself_proposals.pt', dense_mode='maskclip'),
    head=dict(type=DenseSimilarityHead, logit_scale=50.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
