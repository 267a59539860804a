"""Checkpoints that an interrupt cannot corrupt, and what ``--resume`` may resume from.

mmengine's ``CheckpointHook`` writes ``iter_N.pth`` and then ``last_checkpoint`` in place:
Ctrl-C during either leaves a truncated checkpoint or no ``last_checkpoint``, and
``--resume`` then silently starts again at iteration 0, overwriting ``iter_N.pth``.
:class:`AtomicCheckpointHook` writes each checkpoint to a hidden temporary file in the same
folder and renames it into place, then replaces ``last_checkpoint`` atomically
(``utils.atomic``), so both name a complete file or the previous one.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
from collections import deque

from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook

from ovperception.registry import HOOKS
from ovperception.utils.atomic import atomic_write_bytes

_STEP_FILE = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


class NothingToResumeError(FileNotFoundError):
    """``--resume`` found no checkpoint in the work dir."""


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoint and ``last_checkpoint`` are replaced atomically
    (same arguments as mmengine's; local folders only)."""

    def before_train(self, runner) -> None:
        """mmengine's set-up (output folder, best and kept checkpoints of a resumed run)
        without its deprecated ``FileClient``, which mmengine 0.10 creates here even when
        unused (and which logs two deprecation warnings on every training run)."""
        if self.file_client_args is not None:  # deprecated storage arguments: mmengine's way
            return super().before_train(runner)
        if self.out_dir is None:
            self.out_dir = runner.work_dir
        self.file_backend = get_file_backend(self.out_dir, backend_args=self.backend_args)
        if self.out_dir != runner.work_dir:
            self.out_dir = self.file_backend.join_path(
                self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))
        runner.logger.info(f'Checkpoints will be saved to {self.out_dir}.')
        info = runner.message_hub.runtime_info
        if self.save_best is not None:
            if len(self.key_indicators) == 1:
                self.best_ckpt_path = info.get('best_ckpt')
            else:
                for key in self.key_indicators:
                    self.best_ckpt_path_dict[key] = info.get(f'best_ckpt_{key}')
        if self.max_keep_ckpts > 0:
            kept = list(info.get('keep_ckpt_ids', []))
            while len(kept) > self.max_keep_ckpts:
                old = osp.join(self.out_dir, self.filename_tmpl.format(kept.pop(0)))
                if is_main_process() and osp.isfile(old):
                    os.remove(old)
            self.keep_ckpt_ids = deque(kept, self.max_keep_ckpts)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                old = osp.join(self.out_dir, self.filename_tmpl.format(
                    self.keep_ckpt_ids.popleft()))
                if is_main_process() and osp.isfile(old):
                    os.remove(old)
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        temporary = osp.join(self.out_dir, f'.{filename}.{os.getpid()}.tmp')
        try:
            runner.save_checkpoint(self.out_dir, osp.basename(temporary), self.file_client_args,
                                   save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta,
                                   by_epoch=self.by_epoch, backend_args=self.backend_args,
                                   **self.args)
            if not is_main_process():
                return
            os.replace(temporary, self.last_ckpt)
        except BaseException:  # Ctrl-C included: drop the partial file, keep the last good one
            if osp.exists(temporary):
                os.remove(temporary)
            raise
        atomic_write_bytes(osp.join(runner.work_dir, 'last_checkpoint'),
                           self.last_ckpt.encode('utf-8'))


def step_checkpoints(work_dir: str) -> list[str]:
    """``iter_N.pth`` / ``epoch_N.pth`` files of ``work_dir`` (and its ``*/`` sub-folders),
    ordered by N."""
    found = [p for p in glob.glob(osp.join(work_dir, '*.pth')) + glob.glob(
        osp.join(work_dir, '*', '*.pth')) if _STEP_FILE.match(osp.basename(p))]
    return sorted(found, key=lambda p: int(_STEP_FILE.match(osp.basename(p)).group(1)))


def checkpoint_to_resume(work_dir: str) -> str:
    """The checkpoint ``--resume`` continues from: the one ``last_checkpoint`` names, else
    the highest-numbered ``iter_N.pth``.

    Raises:
        NothingToResumeError: the work dir holds no checkpoint.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record, encoding='utf-8') as handle:
            named = handle.read().strip()
        if osp.isfile(named):
            return named
    found = step_checkpoints(work_dir)
    if found:
        return found[-1]
    raise NothingToResumeError(
        f'--resume: nothing to resume in {work_dir} (no last_checkpoint, no iter_N.pth); '
        'run without --resume to start from iteration 0, or pass --resume-or-start')
