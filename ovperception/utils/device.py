"""Choosing the device an entry point runs on (the models never pick one themselves)."""
from __future__ import annotations


DEVICE_CHOICES_HELP = "'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'"


def resolve_device(name: str | None = 'auto') -> str:
    """Turn a user's device name into one torch accepts, checking that it exists.

    Args:
        name: ``'auto'``/None (first of cuda, mps, cpu that exists), ``'cpu'``, ``'cuda'``,
            ``'cuda:N'`` or ``'mps'``.

    Returns:
        A device string such as ``'cuda:0'`` or ``'cpu'``.

    Raises:
        ValueError: an unknown name or a device this machine does not have (one line).
    """
    import torch  # here, not at module level: argument parsing must not load torch

    name = (name or 'auto').strip().lower()
    mps = getattr(torch.backends, 'mps', None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == 'auto':
        if torch.cuda.is_available():
            return 'cuda'
        return 'mps' if has_mps else 'cpu'
    if name == 'cpu':
        return 'cpu'
    if name == 'mps':
        if not has_mps:
            raise ValueError("device 'mps' was asked for but Apple MPS is not available here; "
                             "use --device auto or cpu")
        return 'mps'
    if name == 'cuda' or name.startswith('cuda:'):
        if not torch.cuda.is_available():
            raise ValueError(f'device {name!r} was asked for but no CUDA device is available '
                             'here; use --device auto or cpu')
        index = name.partition(':')[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(f'device {name!r} does not exist: this machine has '
                             f'{torch.cuda.device_count()} CUDA device(s)')
        return name
    raise ValueError(f'unknown device {name!r}; use {DEVICE_CHOICES_HELP}')
