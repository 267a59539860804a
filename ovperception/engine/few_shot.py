"""FewShotMemoryHook: WinCLIP+ k-shot evaluation through ``tools/test.py``.

Before the test loop, for every category of the test dataset, ``k`` normal training
images are drawn (:func:`draw_normal_references`), put through the test pipeline (same
resize as the test images) and remembered by the model for that category's object name;
each test image is then scored against its own category's memory. Config::

    custom_hooks = [..., dict(type=FewShotMemoryHook, k=1, seed=0)]
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from tqdm import tqdm

from ovperception.models.anomaly.few_shot import (DRAWS, draw_normal_references,
                                                  remember_normal_images)
from ovperception.models.anomaly.prompts import object_name
from ovperception.registry import HOOKS


@HOOKS.register_module()
class FewShotMemoryHook(Hook):
    """Fill one few-shot memory per test category before testing (WinCLIP+ protocol).

    Args:
        k: normal reference images per category (WinCLIP+: 1, 2, 4); 0 keeps zero-shot
            scoring (a baseline run of the same config: ``--cfg-options custom_hooks.2.k=0``).
        seed: seed of the draw (the paper averages several seeds; run one per seed).
        draw: ``'random'`` (WinCLIP+ configs) or ``'slice'`` (AnomalyDINO: the sorted
            normal images ``seed * k ... (seed + 1) * k - 1``).
    """

    priority = 'VERY_HIGH'

    def __init__(self, k: int = 1, seed: int = 0, draw: str = 'random') -> None:
        if int(k) < 0:
            raise ValueError(f'FewShotMemoryHook k must be >= 0, got {k}')
        if draw not in DRAWS:
            raise ValueError(f'FewShotMemoryHook draw must be one of {DRAWS}, got {draw!r}')
        self.k, self.seed, self.draw = int(k), int(seed), draw

    def before_test(self, runner) -> None:
        if self.k == 0:
            print_log('FewShotMemoryHook k=0: zero-shot scoring', logger='current')
            return
        dataset = runner.test_dataloader.dataset
        if not hasattr(dataset, 'normal_training_records'):
            raise TypeError(f'FewShotMemoryHook needs an anomaly dataset with a training split '
                            f'(MVTecADDataset, VisADataset), got {type(dataset).__name__}')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.eval()
        # the categories actually tested (``--max-images`` may leave some out)
        categories = list(dict.fromkeys(dataset.get_data_info(i)['category']
                                        for i in range(len(dataset))))
        for category in tqdm(categories, desc=f'{self.k}-shot memories',
                             disable=len(categories) < 2):
            records = draw_normal_references(dataset.normal_training_records(category),
                                             self.k, self.seed, category, self.draw)
            name = object_name(category)
            packed = [dataset.pipeline(dict(record, classnames=[name])) for record in records]
            remember_normal_images(model, packed, name)
            print_log(f'{self.k}-shot memory of {category} (seed {self.seed}): '
                      + ', '.join(r['img_path'] for r in records), logger='current')
