"""Where MuSc keeps the features of an image set while it scores them against each other.

``FeatureStore`` holds, per ViT layer, the layer-normalised (C, h, w) token maps of every
image added so far: in memory (``location=None``) or in ``np.memmap`` files in a temporary
folder (``location='disk'`` or a folder), so a large set costs disk, not RAM; the scorer
reads it back in chunks of images.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import torch
from torch import Tensor


class FeatureStore:
    """Append-only per-layer (N, C, h, w) float32 feature arrays.

    Args:
        num_layers: layers stored per image.
        location: None (memory), ``'disk'`` (a temporary folder, removed by :meth:`close`)
            or an existing folder to put the temporary folder in.
        capacity: images the disk files are sized for at first (grown by doubling).
    """

    def __init__(self, num_layers: int, location: str | None = None,
                 capacity: int = 64) -> None:
        self.num_layers, self.location = int(num_layers), location
        self.count = 0
        self._memory: list[list[Tensor]] = [[] for _ in range(num_layers)]
        self._files: list[np.memmap] = []
        self._folder: str | None = None
        self._capacity = int(capacity)
        if location is not None:
            parent = None if location == 'disk' else location
            if parent is not None and not os.path.isdir(parent):
                raise ValueError(f'MuSc feature folder {parent!r} does not exist')
            self._folder = tempfile.mkdtemp(prefix='musc_features_', dir=parent)

    @property
    def on_disk(self) -> bool:
        """Whether features live in files."""
        return self._folder is not None

    def add(self, maps: list[Tensor]) -> None:
        """Append one batch: per layer a (B, C, h, w) tensor."""
        if len(maps) != self.num_layers:
            raise ValueError(f'expected {self.num_layers} layers, got {len(maps)}')
        batch = maps[0].shape[0]
        if not self.on_disk:
            for layer, m in enumerate(maps):
                self._memory[layer].append(m.detach().float().cpu())
        else:
            shape = tuple(maps[0].shape[1:])
            if not self._files:
                self._files = [self._open(layer, max(self._capacity, batch), shape)
                               for layer in range(self.num_layers)]
            if self.count + batch > self._files[0].shape[0]:
                self._grow(max(2 * self._files[0].shape[0], self.count + batch), shape)
            for layer, m in enumerate(maps):
                self._files[layer][self.count:self.count + batch] = \
                    m.detach().float().cpu().numpy()
        self.count += batch

    def _open(self, layer: int, rows: int, shape: tuple[int, ...],
              mode: str = 'w+') -> np.memmap:
        path = os.path.join(self._folder, f'layer{layer}.f32')
        return np.memmap(path, dtype=np.float32, mode=mode, shape=(rows, *shape))

    def _grow(self, rows: int, shape: tuple[int, ...]) -> None:
        for layer, old in enumerate(self._files):
            old.flush()
            path = os.path.join(self._folder, f'layer{layer}.f32')
            with open(path, 'r+b') as handle:
                handle.truncate(rows * int(np.prod(shape)) * 4)
            self._files[layer] = self._open(layer, rows, shape, mode='r+')

    def read(self, layer: int, start: int, stop: int) -> Tensor:
        """(stop - start, C, h, w) float32 features of images ``start .. stop - 1``."""
        if not self.on_disk:
            if len(self._memory[layer]) > 1:  # consolidate once
                self._memory[layer] = [torch.cat(self._memory[layer])]
            return self._memory[layer][0][start:stop]
        return torch.from_numpy(np.array(self._files[layer][start:stop]))

    def close(self) -> None:
        """Free the memory / remove the files."""
        self._memory = [[] for _ in range(self.num_layers)]
        self._files = []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self.count = 0
