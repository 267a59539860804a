"""WinCLIP+ few-shot references: draw k normal images, remember their features.

Protocol (WinCLIP+): per category, ``k`` normal images are drawn at random from the
category's normal *training* images (MVTec AD ``train/good``, VisA ``train`` rows);
their patch and window embeddings form the memory used for that category's test
images. The draw is a function of ``(seed, category)`` only, so a run is repeatable
and different seeds give the independent draws whose mean the paper reports.
"""
from __future__ import annotations

import random
from typing import Sequence

import torch
from torch import nn


def draw_normal_references(records: Sequence[dict], k: int, seed: int,
                           category: str) -> list[dict]:
    """``k`` records drawn without replacement (repeatable for ``(seed, category)``).

    Args:
        records: the category's normal training records (any order; sorted by path here).
        k: shots (>= 1).
        seed: draw seed.
        category: category name (part of the draw's seed).

    Raises:
        ValueError: ``k < 1`` or fewer than ``k`` normal images.
    """
    if k < 1:
        raise ValueError(f'few-shot k must be >= 1, got {k}')
    if len(records) < k:
        raise ValueError(f'few-shot k={k} but category {category!r} has only {len(records)} '
                         'normal training images')
    ordered = sorted(records, key=lambda r: r['img_path'])
    return random.Random(f'{seed}/{category}').sample(ordered, k)


def remember_normal_images(model: nn.Module, packed: Sequence[dict],
                           object_name: str | None = None) -> None:
    """Collate pipeline outputs (``dict(inputs, data_samples)``) and set them as references.

    Args:
        model: an ``OVAnomalyModel`` with a few-shot capable head (WinCLIP).
        packed: the references after the test pipeline (same resize as the test images).
        object_name: the object whose test images use this memory (None: every image).
    """
    if not packed:
        raise ValueError('no reference images for the few-shot memory')
    data = model.data_preprocessor(dict(inputs=[p['inputs'] for p in packed],
                                        data_samples=[p['data_samples'] for p in packed]), False)
    with torch.no_grad():
        model.set_normal_references(data['inputs'], object_name)
