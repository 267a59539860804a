# Zero-shot counting (tiny CLIP + tiny SAM, as count_tiny_zeroshot.py) with the image-level
# count of a CountCLIP-style number-prompt counter beside it: the demo's _count.json gets
# "image_level_counts" and counts.csv a "<class> (image-level)" column. With real weights,
# give the counter a CountCLIP checkpoint: backbone=dict(..., model_name='ViT-B-32',
# pretrained=CKPT), input_size=224.
#     python demo/image_demo.py IMAGE --vocab "red dot" --config configs/tiny/count_tiny_zeroshot_image_count.py
from mmengine.config import read_base

from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.counting import ImageLevelCountRefiner, ZeroShotCountingHead
from ovperception.models.refiners import SAMWrapper

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_count import *
    from .._base_.models.tiny_clip_vit import *

model.head = dict(type=ZeroShotCountingHead, logit_scale=40.0,
                  sam=dict(type=SAMWrapper, model_type='tiny'), peak_stride=8,
                  peak_threshold=0.0, score_threshold=0.0, max_points=32, min_box_area=2)
model.background_words = ['background']
model.test_cfg = dict(mode='whole', crop_batch_size=4)
model.refiners = [dict(type=ImageLevelCountRefiner, input_size=64,
                       backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16',
                                     pretrained=None, model_kwargs=tiny_clip_kwargs))]
train_dataloader = None
val_dataloader = None
val_evaluator = None
