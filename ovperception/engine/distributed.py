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
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn


def init_distributed(cfg: Any, launcher: str) -> None:
    """Initialise the process group of a ``--launcher pytorch`` run (torchrun's environment)
    and default ``model_wrapper_cfg`` to :class:`OVDistributedWrapper` for every launcher.

    On CPU the backend is ``gloo`` (written back into ``cfg.env_cfg.dist_cfg``); on GPU the
    config's backend, after selecting the local GPU. A no-op for other launchers or when a
    group exists.
    """
    if launcher == 'none':
        return
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='OVDistributedWrapper')
    if launcher != 'pytorch' or torch_dist.is_initialized():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        backend = dist_cfg.get('backend', 'nccl')
    else:
        backend = 'gloo'
    dist_cfg['backend'] = backend
    env_cfg['dist_cfg'] = dist_cfg
    torch_dist.init_process_group(backend=backend)


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
