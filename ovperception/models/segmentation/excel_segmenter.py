"""Inference with ExCEL's trained segmenter (zwyang6/ExCEL ``tools/infer_seg_voc.py`` and the
trained branch of ``tools/infer_lam.py``), and the choice of its output classes.

Multi-scale + flip (:func:`msc_flip_logits`): the image is resized (bilinear) to a square of
side ``size`` and of side ``int(size * s)`` for every other scale ``s``; at ``size`` only the
unflipped logits count (the official loop computes the flipped ones and keeps ``segs[0]``),
at the other scales the mean of the logits and the flipped-back logits of the flipped image;
each is resized to the image size and the list is averaged. The COCO inference
(``tools/infer_seg_coco.py``) differs in two settings: ``base_flip`` (the base scale also
averages its flip) and ``merge_ratio=0.2`` (each scale's logits are resized to
``int(0.2 * H), int(0.2 * W)`` and averaged there; the caller resizes the mean to the label).
``crf`` (None by default, as ``infer_seg_voc.sh``; the official COCO evaluation,
``infer_seg_coco.sh``, runs it) post-processes the mean logits at the original image size
with a :class:`~ovperception.models.refiners.dense_crf.DenseCRF` on their softmax.

LVC + flip class maps (:func:`flip_max_class_maps`, the official ``cure_attr_map_flip``):
the image and its mirror are segmented as one batch, CLIP runs again on both with their fused
features as calibration, the two class maps are combined by their maximum (the mirror's
flipped back) and min-max normalised per class (``(x - min) / (max + 1e-5)``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ovperception.models.cfg_defaults import with_defaults
from ovperception.models.refiners.dense_crf import check_dense_crf_cfg

#: infer_seg_voc.py defaults: 320 px squares at scales 0.7, 1.0, 1.2, 1.5 with flip (not at
#: the base scale), logits averaged at the image size, no CRF (infer_seg_voc.sh crf=false).
DEFAULT_SEGMENTER_CFG: dict = dict(size=320, scales=(0.7, 1.0, 1.2, 1.5), flip=True,
                                   base_flip=False, merge_ratio=None, predict_from='segmenter',
                                   crf=None)
PREDICT_FROM = ('segmenter', 'pseudo_masks')

LogitsFn = Callable[[Tensor], Tensor]


def check_segmenter_cfg(cfg: dict | None) -> dict:
    """The official defaults updated with ``cfg``, checked (one-line errors)."""
    cfg = with_defaults(cfg, DEFAULT_SEGMENTER_CFG, 'ExCEL segmenter_cfg')
    if cfg['predict_from'] not in PREDICT_FROM:
        raise ValueError(f"segmenter_cfg.predict_from must be one of {PREDICT_FROM}, "
                         f"got {cfg['predict_from']!r}")
    if int(cfg['size']) < 16 or not cfg['scales'] or min(cfg['scales']) <= 0:
        raise ValueError('segmenter_cfg needs size >= 16 and positive scales, got '
                         f"size={cfg['size']!r}, scales={cfg['scales']!r}")
    ratio = cfg['merge_ratio']
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float))
                              or not 0 < ratio <= 1):
        raise ValueError(f'segmenter_cfg.merge_ratio must be None or in (0, 1], got {ratio!r}')
    if cfg['crf'] is not None:
        if cfg['predict_from'] != 'segmenter':
            raise ValueError("segmenter_cfg.crf post-processes the segmenter's logits: it needs "
                             f"predict_from='segmenter', got {cfg['predict_from']!r}")
        cfg['crf'] = check_dense_crf_cfg(cfg['crf'], 'segmenter_cfg.crf')
    cfg['scales'] = tuple(float(s) for s in cfg['scales'])
    cfg['base_flip'] = bool(cfg['base_flip'])
    return cfg


def msc_flip_logits(logits_fn: LogitsFn, image: Tensor, size: int,
                    scales: Sequence[float], flip: bool = True, *, base_flip: bool = False,
                    merge_ratio: float | None = None) -> Tensor:
    """(K, H', W') mean segmenter logits of a (3, H, W) normalised image: (H', W') = (H, W),
    or ``(int(merge_ratio * H), int(merge_ratio * W))`` (at least 1) with ``merge_ratio``.

    Args:
        logits_fn: (n, 3, s, s) images -> (n, K, s', s') logits.
        size: side of the base square (the official ``resize_size``).
        base_flip: at the base scale too, average the logits with the flipped-back ones.
    """
    height, width = image.shape[-2:]
    if merge_ratio is not None:
        height, width = max(1, int(merge_ratio * height)), max(1, int(merge_ratio * width))

    def at_side(side: int) -> Tensor:
        resized = F.interpolate(image[None].float(), size=[side, side], mode='bilinear',
                                align_corners=False)
        batch = torch.cat([resized, resized.flip(-1)]) if flip else resized
        return F.interpolate(logits_fn(batch), size=(height, width), mode='bilinear',
                             align_corners=False)

    def with_flip(logits: Tensor) -> Tensor:
        return (logits[:1] + logits[1:].flip(-1)) / 2 if flip else logits

    outputs = [with_flip(at_side(size)) if base_flip else at_side(size)[:1]]
    outputs += [with_flip(at_side(int(size * scale))) for scale in scales if scale != 1.0]
    return torch.stack(outputs).mean(0)[0]


def flip_max_class_maps(maps: Tensor, grid: tuple[int, int]) -> Tensor:
    """(B, h*w, K) class maps of B images from the (2B, h*w, K) maps of them followed by
    their mirrors: element-wise maximum (the mirrors' flipped back), min-max normalised per
    image and class."""
    batch = maps.shape[0] // 2
    maps = maps.transpose(1, 2).reshape(2 * batch, -1, *grid)
    combined = torch.maximum(maps[:batch], maps[batch:].flip(-1))
    combined = combined - combined.flatten(2).min(2).values[..., None, None]
    combined = combined / (combined.flatten(2).max(2).values[..., None, None] + 1e-5)
    return combined.flatten(2).transpose(1, 2)


