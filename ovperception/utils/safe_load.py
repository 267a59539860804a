"""Checkpoint reading with ``weights_only=True`` and a clear error."""
from __future__ import annotations

import os

import torch


def load_checkpoint_safely(path: str) -> dict:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with a clear error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        raise RuntimeError(
            f'could not load {path!r} with weights_only=True ({type(error).__name__}: '
            f'{str(error).splitlines()[0]}). ovperception only loads checkpoints made of tensors '
            'and plain data: re-save just the weights with '
            'torch.save(torch.load(path, weights_only=False)["state_dict"], new_path) '
            'if you trust the file.') from error
