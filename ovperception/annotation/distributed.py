"""Sharding a run over the processes ``torchrun`` starts (``--launcher pytorch``).

No mmengine Runner is involved: the process group (gloo on CPU, nccl on CUDA) serves only
to wait for every shard before rank 0 merges the per-input results into the datasets.
"""
from __future__ import annotations

import datetime
import os
from typing import Sequence, TypeVar

import torch
import torch.distributed as dist

from ovperception.annotation.settings import LAUNCHERS

T = TypeVar('T')



def init_launcher(launcher: str, device: str) -> tuple[int, int, str]:
    """Join the process group of ``launcher``; return ``(rank, world size, device)``.

    With CUDA each process takes the GPU of its ``LOCAL_RANK``.

    Raises:
        ValueError: unknown launcher, or ``pytorch`` outside torchrun.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'unknown --launcher {launcher!r}; choose one of {LAUNCHERS}')
    if launcher == 'none':
        return 0, 1, device
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise ValueError('--launcher pytorch needs the environment torchrun sets (RANK, '
                         'WORLD_SIZE); start with: torchrun --nproc_per_node N '
                         'tools/annotate.py ...')
    use_cuda = device.startswith('cuda')
    if use_cuda:
        local_rank = int(os.environ.get('LOCAL_RANK', 0))
        torch.cuda.set_device(local_rank)
        device = f'cuda:{local_rank}'
    if not dist.is_initialized():
        dist.init_process_group('nccl' if use_cuda else 'gloo',
                                timeout=datetime.timedelta(hours=24))
    return dist.get_rank(), dist.get_world_size(), device


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Every ``world_size``-th item from ``rank``: balanced and the same on every process."""
    return list(items[rank::world_size])


def wait_for_all() -> None:
    """Barrier across the process group (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
