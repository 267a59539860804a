"""SetTestLoop: ``tools/test.py`` for methods that score a whole test set at once (MuSc).

Every batch is encoded and added to its object's set (features kept in memory or on disk, as
the model's ``feature_store`` says); after the last batch the model scores each set, and the
evaluator receives every sample with its prediction. Config::

    test_cfg = dict(type=SetTestLoop)
"""
from __future__ import annotations

import torch
from mmengine.dist import get_world_size
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop

from ovperception.registry import LOOPS


@LOOPS.register_module()
class SetTestLoop(TestLoop):
    """Test loop of set-scoring models (``add_to_set`` / ``score_sets``)."""

    def run(self) -> dict:
        """Collect the whole test set, score it, evaluate."""
        model = self.runner.model.module if is_model_wrapper(self.runner.model) \
            else self.runner.model
        if not hasattr(model, 'add_to_set'):
            raise TypeError(f'SetTestLoop needs a set-scoring model (MuScModel), got '
                            f'{type(model).__name__}')
        if get_world_size() > 1:
            raise RuntimeError('SetTestLoop scores each object\'s whole test set together: run '
                               'it in one process (tools/test.py without a launcher)')
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        model.eval()
        model.clear_sets()
        for idx, data_batch in enumerate(self.dataloader):
            self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
            with torch.no_grad():
                data = model.data_preprocessor(data_batch, False)
                model.add_to_set(data['inputs'], data['data_samples'])
            self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch,
                                  outputs=[])
        samples = model.score_sets()
        batch = self.dataloader.batch_size or 1
        for start in range(0, len(samples), batch):
            self.evaluator.process(data_samples=samples[start:start + batch], data_batch=None)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics
