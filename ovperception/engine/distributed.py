"""Distributed runs (``tools/dist_train.sh``, ``tools/dist_test.sh``) on GPUs and on CPUs.

Three things stop mmengine's defaults on a CPU machine or with a training-free model:

* mmengine's ``init_dist`` calls ``torch.cuda.set_device`` before initialising the process
  group, which fails without an NVIDIA driver. :func:`init_distributed` initialises the group
  itself (``gloo`` when CUDA is unavailable, the config's backend otherwise), so the runner
  finds it initialised and skips its own set-up; mmengine is not patched.
* ``DistributedDataParallel`` refuses a model without trainable parameters (every
  training-free config) and takes ``device_ids`` only on GPUs. :class:`OVDistributedWrapper`
  (the default ``model_wrapper_cfg`` of our tools, registered in mmengine's
  ``MODEL_WRAPPERS``) wraps the model in ``MMDistributedDataParallel`` only when it has
  trainable parameters, with ``device_ids`` only on CUDA; evaluation needs no
  synchronisation, so ``val_step`` / ``test_step`` call the model directly.
* ``model_wrapper_cfg`` may be set with ``--cfg-options`` (``engine.config_keys``).

And one thing the tools must do themselves: end the run in order (:func:`distributed_session`).
A rank must not leave while another still works with the group (rank 0 writes the last
checkpoint after the others finished training), and the group must be destroyed, exactly once,
before the interpreter finalizes: a gloo worker thread that still releases tensors of the last
collective when Python is finalizing takes the GIL, is ended by CPython with ``pthread_exit``
and the process aborts with "terminate called without an active exception" (issue #33;
pytorch/pytorch#190489). So every rank waits at a barrier (``monitored_barrier`` on gloo,
whose error names the rank that did not arrive) and then calls ``destroy_process_group``.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any, Iterator

import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn


def init_distributed(cfg: Any, launcher: str) -> bool:
    """Initialise the process group of a ``--launcher pytorch`` run (torchrun's environment)
    and default ``model_wrapper_cfg`` to :class:`OVDistributedWrapper` for every launcher.

    On CPU the backend is ``gloo`` (written back into ``cfg.env_cfg.dist_cfg``); on GPU the
    config's backend, after selecting the local GPU. ``env_cfg.dist_cfg.timeout`` (seconds,
    mmengine's convention) bounds every collective, the closing barrier included. A no-op for
    other launchers or when a group exists.

    Returns:
        True when this call created the process group (its caller must close it:
        :func:`close_process_group`).
    """
    if launcher == 'none':
        return False
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='OVDistributedWrapper')
    if launcher != 'pytorch' or torch_dist.is_initialized():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        backend = dist_cfg.get('backend', 'nccl')
    else:
        backend = 'gloo'
    dist_cfg['backend'] = backend
    env_cfg['dist_cfg'] = dist_cfg
    timeout = dist_cfg.get('timeout')
    torch_dist.init_process_group(backend=backend, timeout=None if timeout is None else
                                  datetime.timedelta(seconds=float(timeout)))
    return True


def close_process_group(orderly: bool = True) -> None:
    """Leave the distributed run: wait for every rank, then destroy the default process group.

    Call it on every rank, once, before the process exits. ``orderly=False`` (this rank
    failed) skips the barrier, since the other ranks may be anywhere; this rank then exits,
    which closes its connections, so the others' next collective fails at once instead of at
    the timeout.

    Raises:
        RuntimeError: a rank did not reach the barrier within the group's timeout (on gloo the
            message names it); the group is destroyed all the same.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    try:
        if orderly:
            if torch_dist.get_backend() == 'gloo':
                torch_dist.monitored_barrier(wait_all_ranks=True)
            else:
                torch_dist.barrier()
    finally:
        torch_dist.destroy_process_group()


@contextlib.contextmanager
def closing_process_group() -> Iterator[None]:
    """On leaving the block, :func:`close_process_group` (a no-op without a group): orderly
    after a normal exit or ``return``, without the barrier when the block raised."""
    try:
        yield
    except BaseException:
        close_process_group(orderly=False)
        raise
    close_process_group()


@contextlib.contextmanager
def distributed_session(cfg: Any, launcher: str) -> Iterator[None]:
    """:func:`init_distributed` on entry; on exit, when it created the process group,
    :func:`close_process_group` (orderly unless the body raised)."""
    if not init_distributed(cfg, launcher):
        yield
        return
    with closing_process_group():
        yield


@MODEL_WRAPPERS.register_module()
class OVDistributedWrapper(nn.Module):
    """Data-parallel wrapper for trainable and training-free models, on CPU and GPU.

    Args:
        module: the model (an mmengine ``BaseModel``).
        **ddp_kwargs: extra ``MMDistributedDataParallel`` arguments (``find_unused_parameters``
            ...), used only when the model has trainable parameters.
    """

    def __init__(self, module: nn.Module, **ddp_kwargs: Any) -> None:
        super().__init__()
        self.module = module
        self._ddp: MMDistributedDataParallel | None = None
        if any(p.requires_grad for p in module.parameters()):
            ddp_kwargs.setdefault('broadcast_buffers', False)
            ddp_kwargs.setdefault('device_ids', [int(os.environ.get('LOCAL_RANK', 0))]
                                  if next(module.parameters()).is_cuda else None)
            # stored outside the module tree: parameters and state_dict come from self.module
            object.__setattr__(self, '_ddp', MMDistributedDataParallel(module=module,
                                                                      **ddp_kwargs))

    def train_step(self, data: Any, optim_wrapper: Any) -> dict:
        if self._ddp is None:
            raise RuntimeError('this model has no trainable parameters: nothing to train')
        return self._ddp.train_step(data, optim_wrapper)

    def val_step(self, data: Any) -> list:
        return self.module.val_step(data)

    def test_step(self, data: Any) -> list:
        return self.module.test_step(data)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return (self._ddp or self.module)(*args, **kwargs)
