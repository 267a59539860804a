# FSC-147 class-agnostic counting (3659 train / 1286 val / 1190 test images, 384 px high); each
# image is counted for its own class name; val and test report MAE / RMSE / NAE / SRE.
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.counting import FSC147Dataset
from ovperception.datasets.counting_transforms import LoadPointAnnotations, PackCountingInputs
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.evaluation import CountingMetric

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPointAnnotations),
    dict(type=PackCountingInputs),
]
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=FSC147Dataset, data_root='data/FSC147', split='val', test_mode=True,
                 pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=FSC147Dataset, data_root='data/FSC147', split='test', test_mode=True,
                 pipeline=test_pipeline),
)
# on val, also report the detection-score threshold with the lowest MAE (PseCo's protocol)
val_evaluator = dict(type=CountingMetric, metrics=['MAE', 'RMSE', 'NAE', 'SRE'], prefix='val',
                     sweep_thresholds=True)
test_evaluator = dict(type=CountingMetric, metrics=['MAE', 'RMSE', 'NAE', 'SRE'], prefix='test')
