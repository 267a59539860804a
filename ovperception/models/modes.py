"""The mmengine ``forward(inputs, data_samples, mode)`` dispatch shared by every model."""
from __future__ import annotations

from typing import Any

from torch import Tensor

from ovperception.structures import SampleList


class ModeDispatchMixin:
    """``forward`` in mmengine's three modes: ``loss`` -> ``self.loss``, ``predict`` ->
    ``self.predict``, ``tensor`` -> ``self._forward`` (the raw output, no post-processing).

    Mixed into ``BaseModel`` subclasses, which define those three methods.
    """

    def forward(self, inputs: Tensor, data_samples: SampleList | None = None,
                mode: str = 'tensor') -> Any:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
