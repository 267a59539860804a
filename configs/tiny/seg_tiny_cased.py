# Vocabulary-free segmentation (DenseCaSED name choice + SCLIP-style dense head) with a tiny
# random CLIP on synthetic shapes: smoke test of the no-vocabulary path.
#   python demo/image_demo.py IMAGE --out DIR --config configs/tiny/seg_tiny_cased.py
from mmengine.config import read_base

from ovperception.models.vocabulary_free import CaSEDVocabulary

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *

# the shipped class-name bank; a 2x2 grid of 32-pixel crops into an 8x8 cell map keeps it fast
model.update(vocabulary_selector=dict(
    type=CaSEDVocabulary, database='default', entries_are_names=True, num_captions=10,
    alpha=0.7, region_grid_sizes=(2,), region_stride_grid=True, region_crop_size=32,
    pixel_map_size=8, max_names=5))
train_dataloader = None
val_dataloader = None
val_evaluator = None
