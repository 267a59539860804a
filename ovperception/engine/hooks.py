"""Runner hooks: progress bars and prediction overlays for ``--show-dir``."""
from __future__ import annotations

import os
from typing import Any, Sequence

from mmengine.hooks import Hook
from tqdm import tqdm

from ovperception.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A tqdm progress bar over training iterations and evaluation batches.

    Args:
        disable: None shows the bar only on a terminal (as tqdm); True/False forces it.
    """

    priority = 'VERY_LOW'

    def __init__(self, disable: bool | None = None) -> None:
        self.disable = disable
        self._bar: tqdm | None = None

    def _open(self, total: int, desc: str) -> None:
        self._close()
        self._bar = tqdm(total=total, desc=desc, disable=self.disable, dynamic_ncols=True,
                         leave=False)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def before_train(self, runner) -> None:
        self._open(runner.max_iters, 'train')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: dict | None = None) -> None:
        if self._bar is not None:
            if outputs and 'loss' in outputs:
                self._bar.set_postfix(loss=f"{float(outputs['loss'].detach()):.4f}")
            self._bar.update(1)

    def after_train(self, runner) -> None:
        self._close()

    def before_val_epoch(self, runner) -> None:
        self._val_bar_parent = self._bar
        self._bar = tqdm(total=len(runner.val_dataloader), desc='val', disable=self.disable,
                         leave=False)

    def after_val_iter(self, runner, batch_idx: int, data_batch: Any = None,
                       outputs: Sequence | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = getattr(self, '_val_bar_parent', None)

    def before_test_epoch(self, runner) -> None:
        self._open(len(runner.test_dataloader), 'test')

    def after_test_iter(self, runner, batch_idx: int, data_batch: Any = None,
                        outputs: Sequence | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self._close()


@HOOKS.register_module()
class SegVisualizationHook(Hook):
    """Write an overlay (ground truth | prediction) per test image into ``show_dir``.

    Args:
        show_dir: output folder (relative paths are placed under the work dir).
        interval: draw every ``interval``-th batch.
        max_images: stop after this many images (None: all).
    """

    priority = 'LOW'

    def __init__(self, show_dir: str | None = None, interval: int = 1,
                 max_images: int | None = None) -> None:
        self.show_dir = show_dir
        self.interval = max(1, interval)
        self.max_images = max_images
        self._written = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch: Any = None,
                        outputs: Sequence | None = None) -> None:
        if not self.show_dir or outputs is None or batch_idx % self.interval:
            return
        from ovperception.utils.image_io import load_image
        from ovperception.visualization import OVVisualizer
        out_dir = self.show_dir if os.path.isabs(self.show_dir) else os.path.join(
            runner.work_dir, self.show_dir)
        os.makedirs(out_dir, exist_ok=True)
        visualizer = OVVisualizer.get_instance('ovperception_show')
        for index, sample in enumerate(outputs):
            if self.max_images is not None and self._written >= self.max_images:
                return
            path = sample.metainfo.get('img_path')
            if path and os.path.isfile(path):
                image = load_image(path)
                stem = os.path.splitext(os.path.basename(path))[0]
            else:
                image = data_batch['inputs'][index].permute(1, 2, 0).cpu().numpy()
                stem = f'sample_{batch_idx:06d}_{index}'
            visualizer.add_datasample(stem, image, sample, draw_gt=True, draw_pred=True,
                                      out_file=os.path.join(out_dir, f'{stem}.png'))
            self._written += 1
