"""Few-shot references (WinCLIP+, AnomalyDINO): draw k normal images, remember their features.

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
from torch import Tensor, nn


#: How references are drawn: ``'random'`` (ours, WinCLIP+), ``'slice'`` (AnomalyDINO).
DRAWS = ('random', 'slice')


def draw_normal_references(records: Sequence[dict], k: int, seed: int,
                           category: str, draw: str = 'random') -> list[dict]:
    """``k`` normal records, repeatable for ``(seed, category)``.

    Args:
        records: the category's normal training records (any order; sorted by path here).
        k: shots (>= 1).
        seed: draw seed.
        category: category name (part of the draw's seed).
        draw: ``'random'``: drawn without replacement by ``random.Random(f'{seed}/{category}')``;
            ``'slice'``: images ``seed * k ... (seed + 1) * k - 1`` of the sorted list (the
            official AnomalyDINO protocol: seeds 0, 1, 2 use disjoint references).

    Raises:
        ValueError: ``k < 1``, an unknown draw, or fewer than the needed normal images.
    """
    if k < 1:
        raise ValueError(f'few-shot k must be >= 1, got {k}')
    if draw not in DRAWS:
        raise ValueError(f'few-shot draw must be one of {DRAWS}, got {draw!r}')
    needed = k * (seed + 1) if draw == 'slice' else k
    if len(records) < needed:
        raise ValueError(f'few-shot k={k} (seed {seed}, draw {draw!r}) needs {needed} normal '
                         f'training images but category {category!r} has only {len(records)} '
                         'normal training images')
    ordered = sorted(records, key=lambda r: r['img_path'])
    if draw == 'slice':
        return ordered[seed * k:(seed + 1) * k]
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
    with torch.no_grad():
        model.set_normal_references(preprocess_packed(model, packed), object_name)


def preprocess_packed(model: nn.Module, packed: Sequence[dict]) -> list[Tensor]:
    """Pipeline outputs (``dict(inputs, data_samples)``) -> the model's normalised (3, H, W)
    inputs, one by one (their sizes may differ)."""
    return [model.data_preprocessor(dict(inputs=[p['inputs']], data_samples=[p['data_samples']]),
                                    False)['inputs'][0] for p in packed]
