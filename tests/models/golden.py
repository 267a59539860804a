"""Helpers of the golden-output parity tests (fixtures made by the official code)."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ovperception.structures import OVDataSample

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures',
                      'golden')


def load_golden(method: str, name: str) -> dict[str, np.ndarray]:
    """The arrays of ``tests/fixtures/golden/<method>/<name>``."""
    with np.load(os.path.join(GOLDEN, method, name)) as data:
        return {key: data[key] for key in data.files}


def load_prefixed(module: nn.Module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    """Load the ``prefix``-ed arrays (official names) into ``module`` strictly, as float32."""
    state = {key[len(prefix):]: torch.from_numpy(value).float()
             for key, value in arrays.items() if key.startswith(prefix)}
    module.load_state_dict(state, strict=True)


def inject_text(model: nn.Module, names: Sequence[str], embeddings: np.ndarray) -> None:
    """Put the official code's per-name text embeddings (N, C) into ``model``'s text cache."""
    cache = model.text_cache
    for name, embedding in zip(names, torch.from_numpy(embeddings).float()):
        cache._memory[name] = embedding


def predict_image(model: nn.Module, image: np.ndarray, classnames: Sequence[str]) -> OVDataSample:
    """Run ``model.predict`` on one (3, H, W) uint8 RGB image at its own size."""
    sample = OVDataSample(metainfo=dict(classnames=list(classnames)))
    data = model.data_preprocessor(dict(inputs=[torch.from_numpy(image)],
                                        data_samples=[sample]))
    with torch.no_grad():
        return model.predict(data['inputs'], data['data_samples'])[0]


def label_agreement(ours: Tensor, theirs: np.ndarray) -> float:
    """Fraction of pixels with equal labels."""
    return float((ours.cpu().numpy() == theirs).mean())
