# Talk2DINO ViT-B on CityscapesDataset (DINOv2 ViT-B/14-reg + OpenAI CLIP ViT-B/16 text + the released
# projection, downloaded on first use or given with --weights vitb_mlp_infonce.pth).
# Published mIoU 38.1 - source: its README has no results table; secondary transcription of the paper's ViT-B table (arXiv 2411.19331) by wizwand.com, not verified against the paper.
# Settings: lorebianchi98/Talk2DINO src/open_vocabulary_segmentation/configs/cityscapes/ (commit 4918c2d):
# no background class, with_bg_clean off, PAMR on.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.cityscapes import *
    from .._base_.models.talk2dino_vitb14 import *

test_dataloader.dataset.pipeline[1].update(short_side=448, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='talk2dino/cityscapes')  # the repo's own class names
published_metrics = dict(
    mIoU=38.1,
    source="its README has no results table; secondary transcription of the paper's ViT-B table (arXiv 2411.19331) by wizwand.com, not verified against the paper")
