# Talk2DINO ViT-B on PascalVOC20Dataset (DINOv2 ViT-B/14-reg + OpenAI CLIP ViT-B/16 text + the released
# projection, downloaded on first use or given with --weights vitb_mlp_infonce.pth).
# Published mIoU: unverified - no number found: the lorebianchi98/Talk2DINO README has no results table and the secondary listing we could read (wizwand.com, arXiv 2411.19331) gives none for voc20; the paper's table could not be read here.
# Settings: lorebianchi98/Talk2DINO src/open_vocabulary_segmentation/configs/voc/ (commit 4918c2d):
# no background class, with_bg_clean off, PAMR on.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc20 import *
    from .._base_.models.talk2dino_vitb14 import *

test_dataloader.dataset.pipeline[1].update(short_side=448, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='talk2dino/voc20')  # the repo's own class names
published_metrics_unverified = (
    "no number found: the lorebianchi98/Talk2DINO README has no results table and the secondary listing we could read (wizwand.com, arXiv 2411.19331) gives none for voc20; the paper's table could not be read here")
