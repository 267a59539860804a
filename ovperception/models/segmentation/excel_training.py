"""One ExCEL training step's pieces (zwyang6/ExCEL ``scripts/train_voc.py``), as functions.

Per batch of crops: the frozen CLIP runs its dual path once (per-block tokens, attention,
class maps); the segmentation head turns the per-block tokens into logits and fused
features, and these into a predicted patch affinity. Under no gradient, each crop's
pseudo-mask is made from its image-level tags: class maps (from ``lvc_start_iter`` on: CLIP
run again with the fused features as the learnable visual calibration), attention-affinity
refinement (from ``lvc_start_iter`` on: with the predicted affinity, ``seg_attn``), class
maps at the crop size with background ``1 - max``, PAR guided by the denormalised crop
(quantised to uint8 and scaled to [0, 1] as the official ``denormalize_img2``), argmax.
Losses: the balanced cross-entropy of the upsampled logits against the pseudo-masks, and
``affinity_weight`` x the affinity loss against labels from the pseudo-masks (from
``seg_affinity_start_iter`` on: from the segmenter's own argmax; None: never, as the official
``train_coco.py``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ovperception.models.cfg_defaults import with_defaults
from ovperception.models.segmentation.excel_losses import (affinity_labels, affinity_loss,
                                                           balanced_segmentation_loss,
                                                           radius_mask)
from ovperception.models.segmentation.excel_masks import pseudo_labels
from ovperception.models.segmentation.excel_visual import BOX_THRESHOLD, refine_with_affinity

#: Official training defaults (train_voc.py): LVC and seg_attn from iteration 14000, affinity
#: labels from the segmenter from 24000, radius 8, weight 0.1, box threshold 0.79.
DEFAULT_EXCEL_TRAIN_CFG: dict = dict(lvc_start_iter=14000, seg_affinity_start_iter=24000,
                                     affinity_radius=8, affinity_weight=0.1,
                                     box_threshold=BOX_THRESHOLD, ignore_index=255)


def excel_train_cfg(cfg: dict | None) -> dict:
    """The official training defaults updated with ``cfg`` (unknown keys: one-line error).

    ``seg_affinity_start_iter=None``: the affinity labels always come from the pseudo-masks
    (official ``train_coco.py``); ``lvc_start_iter`` must be an iteration.
    """
    cfg = with_defaults(cfg, DEFAULT_EXCEL_TRAIN_CFG, 'ExCEL train_cfg')
    for key in ('lvc_start_iter', 'seg_affinity_start_iter'):
        value = cfg[key]
        never = value is None and key == 'seg_affinity_start_iter'
        if not never and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            allowed = 'a non-negative int or None (never)' if key != 'lvc_start_iter' \
                else 'a non-negative int'
            raise ValueError(f'ExCEL train_cfg.{key} must be {allowed}, got {value!r}')
    return cfg


def uses_segmenter_affinity(cfg: dict, iteration: int) -> bool:
    """Whether the affinity labels of ``iteration`` come from the segmenter's argmax."""
    start = cfg['seg_affinity_start_iter']
    return start is not None and iteration >= start


def patch_token_maps(layer_tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """(L, B, 1 + h*w, C) per-block tokens -> (L, B, C, h, w) patch-token maps."""
    layers, batch, _, channels = layer_tokens.shape
    return layer_tokens[:, :, 1:].transpose(2, 3).reshape(layers, batch, channels, *grid)


def quantised_guides(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """(B, 3, H, W) normalised images -> the official PAR guide: 0..255 RGB truncated to
    uint8, divided by 255."""
    rgb = images * std.reshape(1, -1, 1, 1).to(images) + mean.reshape(1, -1, 1, 1).to(images)
    return rgb.to(torch.uint8).float() / 255.0


@torch.no_grad()
def batch_pseudo_masks(class_maps: Tensor, attention: Tensor, present: Sequence[Sequence[int]],
                       grid: tuple[int, int], guides: Tensor, *,
                       seg_affinity: Tensor | None = None, affinity_layers: int = 6,
                       box_threshold: float = BOX_THRESHOLD) -> Tensor:
    """(B, H, W) int64 pseudo-masks: 0 background, ``c + 1`` for foreground class ``c``.

    Args:
        class_maps: (B, h*w, K) patch-class maps (feature surgery, patches only).
        attention: (L, B, 1 + h*w, 1 + h*w) per-block CLIP attention.
        present: per crop, the sorted foreground classes (indices into K) of its tags.
        guides: (B, 3, H, W) PAR guides (:func:`quantised_guides`); H, W the mask size.
        seg_affinity: optional (B, h*w, h*w) predicted affinity (``seg_attn``).
    """
    size = tuple(guides.shape[-2:])
    masks = []
    for index, classes in enumerate(present):
        if not classes:  # no tag: all background (the official code has no such crop)
            masks.append(torch.zeros(size, dtype=torch.long, device=guides.device))
            continue
        refined = refine_with_affinity(
            class_maps[index], attention[:, index], list(classes), grid, affinity_layers,
            box_threshold, None if seg_affinity is None else seg_affinity[index])
        masks.append(pseudo_labels(refined, guides[index], list(classes), size)[0])
    return torch.stack(masks)


def segmenter_losses(logits: Tensor, affinity: Tensor, pseudo_masks: Tensor,
                     use_segmenter_affinity: bool, cfg: dict) -> dict[str, Tensor]:
    """``loss_seg`` and ``loss_aff`` (already weighted) of one batch.

    Args:
        logits: (B, K, h, w) segmenter logits (upsampled bilinearly to the masks' size).
        affinity: (B, h*w, h*w) predicted affinity.
        pseudo_masks: (B, H, W) targets.
        use_segmenter_affinity: affinity labels from the segmenter's argmax, not the masks.
    """
    size = tuple(pseudo_masks.shape[-2:])
    logits = F.interpolate(logits, size=size, mode='bilinear', align_corners=False)
    loss_seg = balanced_segmentation_loss(logits, pseudo_masks, cfg['ignore_index'])
    source = logits.detach().argmax(1) if use_segmenter_affinity else pseudo_masks
    mask = radius_mask(size[0] // 16, size[1] // 16, cfg['affinity_radius'], logits.device)
    targets = affinity_labels(source, mask, cfg['ignore_index'])
    return dict(loss_seg=loss_seg,
                loss_aff=cfg['affinity_weight'] * affinity_loss(affinity, targets))
