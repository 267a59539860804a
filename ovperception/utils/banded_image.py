"""An image whose rows are computed when read: a huge overlay streamed to a PNG a band at a
time never exists as one array (0.32 GB at 108 MP)."""
from __future__ import annotations

from typing import Callable

import numpy as np

#: ``fill(rows, start, stop)`` writes rows ``start:stop`` of the image into ``rows``.
FillRows = Callable[[np.ndarray, int, int], None]


class BandedImage:
    """(H, W, C) image (uint8, or uint16 grey) made a band of rows at a time.

    Slicing rows (``image[a:b]``) computes those rows only; ``np.asarray(image)`` makes the
    whole array (what a non-streaming encoder needs).
    """

    ndim = 3

    def __init__(self, shape: tuple[int, int, int], fill: FillRows,
                 dtype: np.dtype | type = np.uint8) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._fill = fill

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1] * self.shape[2]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError('a BandedImage is read by slices of rows')
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ValueError('a BandedImage is read by contiguous rows')
        out = np.empty((max(0, stop - start),) + self.shape[1:], self.dtype)
        if len(out):
            self._fill(out, start, stop)
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The whole image; (H, W) for one channel (what image encoders take)."""
        array = self[0:self.shape[0]]
        array = array[..., 0] if self.shape[2] == 1 else array
        return array if dtype is None else array.astype(dtype)
