# FC-CLIP ConvNeXt-L + Mask-Adapter (hustvl/MaskAdapter @ ad11a5c) zero-shot on Pascal Context
# 459, semantic mIoU. Released settings (fc-clip/fcclip/fcclip_convnext_large_eval_*.yaml): 16
# maps per mask, mask encoder 16 channels, 768 adapter channels, alpha=0.7, beta=0.9,
# mask_threshold=0.5. Published mIoU 19.3 - source: Mask-Adapter README @ ad11a5c (FC-CLIP +
# Mask-Adapter, PC-459; the README's columns are A-847 | A-150 | PC-459 | PC-59 | PAS-20).
# official eval protocol (detectron2 test resize): short side 800, max 1333
#   python tools/test.py configs/segmentation/fcclip_mask_adapter_convnext_large_context459_800.py \
#       --weights RELEASED_CHECKPOINT.pth
# (RELEASED_CHECKPOINT: the Mask-Adapter README "model" links; converted on load, or once with
# tools/convert_checkpoint.py maskadapter)
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context459 import *
    from .._base_.models.fcclip_convnext_large import *

from ovperception.models.panoptic import MaskAdapter

model.update(mask_adapter=dict(type=MaskAdapter, mask_in_chans=16, num_channels=768,
                                num_output_maps=16),
             alpha=0.7, beta=0.9, mask_threshold=0.5)
model.test_cfg.update(panoptic_on=False, instance_on=False)
test_dataloader.dataset.pipeline[1].update(short_side=800, max_long_side=1333)
published_metrics = dict(mIoU=19.3, source='Mask-Adapter README (FC-CLIP + Mask-Adapter, PC-459)')
