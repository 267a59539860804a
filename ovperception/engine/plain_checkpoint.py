"""Keep runner checkpoints loadable with ``torch.load(weights_only=True)``.

mmengine stores its message hub as ``HistoryBuffer`` objects (which pickle
bound methods through ``getattr``) and numpy arrays; ``weights_only`` loading,
the torch default since 2.6, rejects them, which breaks ``--resume``. This hook
stores that state as plain lists and numbers when saving and rebuilds the
buffers after loading, so no unsafe unpickling is ever needed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from ovperception.registry import HOOKS

BUFFER_TAG = '__history_buffer__'


def to_plain(value: Any) -> Any:
    """Recursively turn HistoryBuffers and numpy values into plain Python data."""
    if isinstance(value, HistoryBuffer):
        log, count = value.data
        return {BUFFER_TAG: True, 'log_history': np.asarray(log).tolist(),
                'count_history': np.asarray(count).tolist(), 'max_length': value.max_length}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(item) for item in value)
    return value


def from_plain(value: Any) -> Any:
    """Inverse of :func:`to_plain` for the HistoryBuffers."""
    if isinstance(value, dict):
        if value.get(BUFFER_TAG):
            return HistoryBuffer(value['log_history'], value['count_history'],
                                 value['max_length'])
        return {key: from_plain(item) for key, item in value.items()}
    return value


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Save the message hub as plain data; rebuild it on load (see module docstring)."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = to_plain(checkpoint['message_hub'])
        if 'meta' in checkpoint:
            checkpoint['meta'] = to_plain(checkpoint['meta'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = from_plain(checkpoint['message_hub'])
