"""Fully connected CRF post-processing (Krähenbühl & Koltun, NeurIPS 2011) through ``pydensecrf2``.

Given per-pixel class probabilities ``P`` (K, H, W) and the 0..255 RGB image (3, H, W) at the
same size, the CRF has unary ``-log(max(P, 1e-5))`` and two Potts pairwise terms: an
appearance-free Gaussian kernel (``pos_xy_std`` pixels, weight ``pos_w``) and a bilateral
kernel (``bi_xy_std`` pixels, ``bi_rgb_std`` colour levels, weight ``bi_w``); ``iter_max``
mean-field steps give the (K, H, W) marginals, whose argmax is the label.

The defaults are the setting of ExCEL's official post-processing (zwyang6/ExCEL
``tools/infer_seg_coco.py`` / ``infer_seg_voc.py`` ``crf_proc``: 10 steps, 1/3, 67/3/4), run
on the softmax of the multi-scale logits at the original image size. The library is an
optional extra (``pip install 'ovperception[crf]'``), imported when a ``DenseCRF`` is built.

``DenseCRF.map`` runs the CRFs of many images on ``workers`` processes (default ``'auto'``:
60 % of the cores, as the official joblib post-processing); the computation itself is the
numpy function of :mod:`ovperception.utils.dense_crf_kernel`, the same in this process and in
the workers, so the result never depends on ``workers``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList
from ovperception.utils.dense_crf_kernel import (PROB_CLIP, dense_crf_marginals,
                                                 import_pydensecrf)
from ovperception.utils.process_pool import ordered_map, resolve_workers

__all__ = ['DENSE_CRF_DEFAULTS', 'PROB_CLIP', 'DenseCRF', 'check_dense_crf_cfg',
           'image_to_uint8', 'import_pydensecrf']

#: The official ExCEL setting (and this module's defaults).
DENSE_CRF_DEFAULTS: dict[str, float | int] = dict(
    iter_max=10, pos_xy_std=1.0, pos_w=3.0, bi_xy_std=67.0, bi_rgb_std=3.0, bi_w=4.0)
#: Options that change how the CRF runs, never its result.
DENSE_CRF_RUN_OPTIONS = ('workers',)


def check_dense_crf_cfg(cfg: dict, name: str = 'crf') -> dict[str, Any]:
    """The keyword arguments of :class:`DenseCRF` from a config dict (``type`` optional and
    only ``'DenseCRF'``), the defaults filled in; unknown keys are a one-line error."""
    if not isinstance(cfg, dict):
        raise ValueError(f'{name} must be None or a dict of DenseCRF options, got {cfg!r}')
    params = dict(cfg)
    kind = params.pop('type', 'DenseCRF')
    if kind not in ('DenseCRF', DenseCRF):
        raise ValueError(f"{name}.type must be 'DenseCRF', got {kind!r}")
    valid = sorted(DENSE_CRF_DEFAULTS) + list(DENSE_CRF_RUN_OPTIONS)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f'unknown {name} keys {unknown}; valid keys: {valid + ["type"]}')
    return {**DENSE_CRF_DEFAULTS, **params}


def image_to_uint8(image: Tensor, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) C-contiguous uint8 array of a (3, h, w) 0..255 RGB image (uint8 or float,
    rounded and clipped), resized bilinearly to ``size`` (H, W) when given and different."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f'DenseCRF needs a (3, H, W) RGB image, got {tuple(image.shape)}')
    if size is not None and tuple(image.shape[-2:]) != tuple(size):
        image = F.interpolate(image[None].float(), size=tuple(size), mode='bilinear',
                              align_corners=False)[0]
    if image.dtype != torch.uint8:
        image = image.float().round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy())


@MODELS.register_module()
class DenseCRF(nn.Module):
    """Dense CRF on class probabilities: ``crf(image, probs) -> marginals``,
    ``crf.map(pairs)`` for many images on worker processes, and ``refine(images, samples)``
    as a post-head refiner (``OVModel(refiners=[...])``).

    Args:
        iter_max: mean-field steps (0: the clipped, renormalised probabilities).
        pos_xy_std: spatial standard deviation of the Gaussian kernel, in pixels.
        pos_w: weight of the Gaussian kernel (Potts compatibility).
        bi_xy_std: spatial standard deviation of the bilateral kernel, in pixels.
        bi_rgb_std: colour standard deviation of the bilateral kernel, in 0..255 levels.
        bi_w: weight of the bilateral kernel.
        workers: processes that :meth:`map` (and :meth:`refine`) spread the images over:
            ``'auto'`` (default) takes 60 % of the usable cores as the official ExCEL
            post-processing (``int(cores * 0.6)``, shared among the torchrun ranks of a node;
            1 on a 2-core machine), 1 runs every CRF in this process. pydensecrf holds the
            GIL, hence processes, not threads. The result never depends on it (the same
            function on the same arrays, bit for bit).
    """

    def __init__(self, iter_max: int = 10, pos_xy_std: float = 1.0, pos_w: float = 3.0,
                 bi_xy_std: float = 67.0, bi_rgb_std: float = 3.0, bi_w: float = 4.0,
                 workers: int | str = 'auto') -> None:
        super().__init__()
        self.workers = resolve_workers(workers, 'DenseCRF workers')
        if isinstance(iter_max, bool) or not isinstance(iter_max, int) or iter_max < 0:
            raise ValueError(f'DenseCRF iter_max must be an int >= 0, got {iter_max!r}')
        values = dict(pos_xy_std=pos_xy_std, pos_w=pos_w, bi_xy_std=bi_xy_std,
                      bi_rgb_std=bi_rgb_std, bi_w=bi_w)
        for key, value in values.items():
            positive = key.endswith('_std')
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0 or (positive and value == 0):
                raise ValueError(f'DenseCRF {key} must be a finite number '
                                 f"{'> 0' if positive else '>= 0'}, got {value!r}")
        import_pydensecrf()   # the missing extra fails at build time, before any work
        self.iter_max = int(iter_max)
        self.pos_xy_std, self.pos_w = float(pos_xy_std), float(pos_w)
        self.bi_xy_std, self.bi_rgb_std, self.bi_w = (float(bi_xy_std), float(bi_rgb_std),
                                                      float(bi_w))

    def forward(self, image: Tensor, probs: Tensor) -> Tensor:
        """(K, H, W) float32 marginals, on ``probs``' device, computed in this process.

        Args:
            image: (3, H, W) 0..255 RGB, uint8 or float (rounded to uint8 as the CRF needs),
                resized bilinearly to (H, W) when its size differs.
            probs: (K, H, W) class probabilities (e.g. a softmax over K).
        """
        return torch.from_numpy(dense_crf_marginals(*self.kernel_arguments(image, probs))).to(
            probs.device)

    def map(self, pairs: Iterable[tuple[Tensor, Tensor]]) -> list[Tensor]:
        """``[crf(image, probs) for image, probs in pairs]`` on ``workers`` processes (at most
        ``workers + 1`` images submitted at a time), bit for bit the same. ``pairs`` may be a
        generator: it is consumed lazily, so the work that produces the next pair overlaps the
        workers' CRFs. Ctrl-C or an error kills the workers before it propagates."""
        if self.workers == 1:
            return [self(image, probs) for image, probs in pairs]
        devices: list[torch.device] = []

        def arguments() -> Iterable[tuple]:
            for image, probs in pairs:
                devices.append(probs.device)
                yield self.kernel_arguments(image, probs)

        marginals = ordered_map(dense_crf_marginals, arguments(), self.workers)
        return [torch.from_numpy(m).to(device) for m, device in zip(marginals, devices)]

    def kernel_arguments(self, image: Tensor, probs: Tensor) -> tuple:
        """The checked arguments of :func:`dense_crf_marginals` for (3, H', W') ``image`` and
        (K, H, W) ``probs``: float32 probabilities, (H, W, 3) uint8 image, the options."""
        if probs.dim() != 3 or probs.shape[0] < 1 or min(probs.shape[-2:]) < 1:
            raise ValueError(f'DenseCRF needs (K, H, W) probabilities, got {tuple(probs.shape)}')
        if not torch.isfinite(probs).all():
            raise ValueError('DenseCRF got non-finite class probabilities')
        rgb = image_to_uint8(image, tuple(probs.shape[-2:]))
        return (np.ascontiguousarray(probs.detach().float().cpu().numpy()), rgb, self.iter_max,
                self.pos_xy_std, self.pos_w, self.bi_xy_std, self.bi_rgb_std, self.bi_w)

    def refine(self, images: list[Tensor], samples: SampleList) -> list[OVDataSample]:
        """Refine each sample's ``seg_logits`` (K, h, w class probabilities; the head's
        ``return_logits=True``) at ``ori_shape`` with its (3, h', w') RGB image: ``seg_logits``
        become the marginals and ``pred_sem_seg`` their argmax (no threshold re-applied)."""
        pairs = []
        for image, sample in zip(images, samples):
            if 'seg_logits' not in sample:
                raise ValueError('DenseCRF.refine needs class probabilities: build the head '
                                 'with return_logits=True')
            probs = sample.seg_logits.data.float()
            size = tuple(int(v) for v in sample.metainfo.get('ori_shape', probs.shape[-2:])[:2])
            if tuple(probs.shape[-2:]) != size:
                probs = F.interpolate(probs[None], size=size, mode='bilinear',
                                      align_corners=False)[0]
            pairs.append((image, probs))
        for sample, marginals in zip(samples, self.map(pairs)):
            sample.seg_logits = PixelData(data=marginals)
            sample.pred_sem_seg = PixelData(data=marginals.argmax(dim=0)[None])
        return list(samples)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return (f'iter_max={self.iter_max}, pos_xy_std={self.pos_xy_std}, pos_w={self.pos_w}, '
                f'bi_xy_std={self.bi_xy_std}, bi_rgb_std={self.bi_rgb_std}, bi_w={self.bi_w}, '
                f'workers={self.workers}')
