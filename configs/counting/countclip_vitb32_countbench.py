# CountCLIP (Paiss et al., "Teaching CLIP to Count to Ten", ICCV 2023): zero-shot counting on
# CountBench by number prompts: each caption restated with two .. ten, the best-matching number
# is the count (accuracy and MAE over the images present locally).
#     python tools/test.py configs/counting/countclip_vitb32_countbench.py [--weights CKPT]
# Published (paper Table 1, CountBench accuracy %, CLIP ViT-B/32): official OpenAI weights 31.67
# (this config as is); fine-tuned with the counting loss ~75.9 (read through a secondary page
# that cut the number; unverified: no official code or weights were released). Fine-tune
# with configs/counting/countclip_vitb32_train.py and pass its checkpoint as --weights.
from mmengine.config import read_base

from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.counting import CountCLIP

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.countbench import *

model = dict(type=CountCLIP,
             backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-32', pretrained='openai'))
published_metrics = {'accuracy': 31.67,
                     'source': 'CountCLIP paper (Paiss et al. 2023) Table 1, CLIP ViT-B/32 official '
                               'weights on CountBench; read through a secondary page of the table'}
