# Talk2DINO ViT-B on PascalContext60Dataset (DINOv2 ViT-B/14-reg + OpenAI CLIP ViT-B/16 text + the released
# projection, downloaded on first use or given with --weights vitb_mlp_infonce.pth).
# Published mIoU: unverified - no number found: the lorebianchi98/Talk2DINO README has no results table and the secondary listing we could read (wizwand.com, arXiv 2411.19331) gives none for context60; the paper's table could not be read here.
# Settings: lorebianchi98/Talk2DINO src/open_vocabulary_segmentation/configs/context_bg/ (commit 4918c2d):
# background class 0 at the constant 0.55 (bg_thresh of eval_context_bg_pamr.yml), with_bg_clean off, PAMR on.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context60 import *
    from .._base_.models.talk2dino_vitb14 import *

model.head.update(background_index=0, background_threshold=0.55)
test_dataloader.dataset.pipeline[1].update(short_side=448, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='talk2dino/context60')  # the repo's own class names
published_metrics_unverified = (
    "no number found: the lorebianchi98/Talk2DINO README has no results table and the secondary listing we could read (wizwand.com, arXiv 2411.19331) gives none for context60; the paper's table could not be read here")
