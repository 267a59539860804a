"""``LocalRunner``: mmengine's ``Runner`` that writes its files into local folders safely.

* Checkpoints go through mmengine's current file I/O, without its deprecated ``FileClient``
  (``Runner.save_checkpoint`` of mmengine 0.10 creates one on every save, which logs the
  ``"FileClient" will be deprecated`` and ``"HardDiskBackend" is the alias`` warnings on every
  training run).
* The config dump (``work_dir/<config name>.py``) is written atomically and never over the
  config file being run: a rerun of ``work_dirs/X/X.py`` (with other ``--cfg-options``) keeps
  that file and writes the config it ran into its own log folder instead.
"""
from __future__ import annotations

import io
import os.path as osp
import time

import mmengine
import torch
from mmengine.dist import master_only
from mmengine.fileio import get_file_backend
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import weights_to_cpu
from mmengine.utils import apply_to, get_git_hash

from ovperception.utils.atomic import atomic_write_bytes


def _to_cpu(state: object) -> object:
    return apply_to(state, lambda x: hasattr(x, 'cpu'), lambda x: x.cpu())


def save_checkpoint(checkpoint: dict, filepath: str, backend_args: dict | None = None) -> None:
    """``torch.save`` ``checkpoint`` to ``filepath`` through mmengine's file backend of that
    path (what mmengine's own ``save_checkpoint`` does, minus its ``FileClient``)."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    get_file_backend(filepath, backend_args=backend_args).put(buffer.getvalue(), filepath)


class LocalRunner(Runner):
    """``Runner`` whose ``save_checkpoint`` writes the same checkpoint as mmengine's (meta,
    state_dict, message_hub, optimizer, param_schedulers, ``before_save_checkpoint`` hooks)
    through ``get_file_backend`` (mmengine's current file I/O) instead of ``FileClient``.
    ``file_client_args`` (deprecated by mmengine) still go through mmengine's own method.
    ``dump_config`` writes where mmengine's does, atomically, except over the config being run."""

    @master_only
    def dump_config(self) -> None:
        """Write the config into ``work_dir/<config file name>`` (mmengine's place), or into
        this run's log folder when that path is the config file this run was read from."""
        source = self.cfg.filename
        name = osp.basename(source) if source else f'{self.timestamp}.py'
        path = osp.join(self.work_dir, name)
        if source and osp.exists(path) and osp.samefile(path, source):
            path = osp.join(self.log_dir, name)
            self.logger.info(f'the config being run is {source}; its dump goes to {path}')
        atomic_write_bytes(path, self.cfg.dump().encode('utf-8'))  # text in the file's format

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: dict | None = None, save_optimizer: bool = True,
                        save_param_scheduler: bool = True, meta: dict | None = None,
                        by_epoch: bool = True, backend_args: dict | None = None) -> None:
        if file_client_args is not None:
            return super().save_checkpoint(out_dir, filename, file_client_args, save_optimizer,
                                           save_param_scheduler, meta, by_epoch, backend_args)
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f'meta should be a dict or None, but got {type(meta)}')
        meta = dict(meta or {})
        # the hooks call this after the step / epoch counter of the finished one
        meta.setdefault('epoch', self.epoch + 1 if by_epoch else self.epoch)
        meta.setdefault('iter', self.iter if by_epoch else self.iter + 1)
        backend = get_file_backend(out_dir, backend_args=backend_args)
        filepath = backend.join_path(out_dir, filename)
        meta.update(cfg=self.cfg.pretty_text, seed=self.seed,
                    experiment_name=self.experiment_name,
                    time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
                    mmengine_version=mmengine.__version__ + get_git_hash())
        if hasattr(self.train_dataloader.dataset, 'metainfo'):
            meta.update(dataset_meta=self.train_dataloader.dataset.metainfo)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = dict(meta=meta, state_dict=weights_to_cpu(model.state_dict()),
                          message_hub=_to_cpu(self.message_hub.state_dict()))
        if save_optimizer:
            checkpoint['optimizer'] = _to_cpu(self.optim_wrapper.state_dict())
        if save_param_scheduler and self.param_schedulers is None:
            self.logger.warning('`save_param_scheduler` is True but `self.param_schedulers` '
                                'is None, so skip saving parameter schedulers')
            save_param_scheduler = False
        if save_param_scheduler:
            schedulers = self.param_schedulers
            checkpoint['param_schedulers'] = (
                {name: [s.state_dict() for s in group] for name, group in schedulers.items()}
                if isinstance(schedulers, dict) else [s.state_dict() for s in schedulers])
        self.call_hook('before_save_checkpoint', checkpoint=checkpoint)
        save_checkpoint(checkpoint, filepath, backend_args=backend_args)
