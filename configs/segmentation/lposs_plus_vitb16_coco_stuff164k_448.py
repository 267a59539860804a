# LPOSS+ on COCOStuffDataset (OpenCLIP ViT-B/16 laion2b_s34b_b88k + DINO ViT-B/16, training-free).
# Published mIoU 25.9 - source: wizwand.com listing of the LPOSS paper's results (arXiv 2503.19777, LPOSS+ with ViT-B/16), a secondary transcription; not verified against the paper's table - the vladan-stojnic/LPOSS README has no results table. LPOSS without the pixel step: --cfg-options model.head.pixel_refine=False.
# Settings: vladan-stojnic/LPOSS configs/lposs_plus.yaml and segmentation/configs/_base_/datasets (commit e489a74): short side 448, slide 224 / 112.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_stuff164k import *
    from .._base_.models.lposs_vitb16 import *

test_dataloader.dataset.pipeline[1].update(short_side=448, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='lposs/coco_stuff')  # the repo's own class names
published_metrics = dict(
    mIoU=25.9,
    source="wizwand.com listing of the LPOSS paper's results (arXiv 2503.19777, LPOSS+ with ViT-B/16), a secondary transcription; not verified against the paper's table - the vladan-stojnic/LPOSS README has no results table")
