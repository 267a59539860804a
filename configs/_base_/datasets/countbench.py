# CountBench (Paiss et al. 2023): 540 captioned images stating counts 2-10, from a local copy
# (data/countbench/CountBench.json + images/<index>.<suffix>; docs/datasets.md "CountBench").
# Images go through CLIP's own preprocessing (short side bicubic, centre crop).
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.clip_transforms import CLIPResizeCenterCrop
from ovperception.datasets.countbench import CountBenchDataset, PackCaptionCountInputs
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.evaluation import CountingMetric

countbench_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=CLIPResizeCenterCrop, size=224),
    dict(type=PackCaptionCountInputs),
]
test_dataloader = dict(
    batch_size=32, num_workers=2,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=CountBenchDataset, data_root='data/countbench', ann_file='CountBench.json',
                 img_dir='images', test_mode=True, pipeline=countbench_pipeline),
)
test_evaluator = dict(type=CountingMetric, metrics=['accuracy', 'MAE'])
