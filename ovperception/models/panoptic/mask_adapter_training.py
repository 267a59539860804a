"""Mask-Adapter training, as released (hustvl/MaskAdapter): the adapter learns on frozen CLIP
and a frozen segmenter from a mix of masks per image - ``num_gt_masks`` ground-truth masks,
``num_pred_masks`` predicted masks whose IoU with a ground-truth mask exceeds
``iou_threshold`` (binarised), and those ground-truth masks again - with a cross-entropy of
the mask embeddings against the text embeddings (+ void) and a cosine loss that pulls the
embedding of each predicted mask towards that of its (detached) ground-truth mask (the
IoU-based mask consistency loss). Missing masks are zero with label -1 (ignored).
``num_pred_masks=0`` is the released ground-truth warm-up stage (ground-truth masks and the
cross-entropy only; the segmenter is not run)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class MixedMasks:
    """One image's adapter inputs: (G + 2P, H, W) masks and (G + 2P,) labels (-1 = none)."""

    masks: Tensor
    labels: Tensor


def sample_ground_truth(masks: Tensor, labels: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """(M, H, W) masks, (M,) labels -> ``count`` of them (a random subset when more, zero
    masks labelled -1 when fewer); empty masks are dropped first, as released."""
    keep = masks.flatten(1).sum(1) > 0
    masks, labels = masks[keep], labels[keep]
    if len(masks) > count:
        chosen = torch.randperm(len(masks), device=masks.device)[:count]
        return masks[chosen].float(), labels[chosen]
    missing = count - len(masks)
    return (torch.cat([masks.float(), masks.new_zeros(missing, *masks.shape[1:])]),
            torch.cat([labels, labels.new_full((missing,), -1)]))


def mask_iou(pred_logits: Tensor, target_masks: Tensor) -> Tensor:
    """(Q, L) mask logits, (M, L) masks -> (Q, M) IoU of ``sigmoid >= 0.4`` with
    ``target > 0.5`` (the released thresholds)."""
    pred = (pred_logits.sigmoid() >= 0.4).float()
    target = (target_masks > 0.5).float()
    intersection = pred @ target.T
    union = pred.sum(-1)[:, None] + target.sum(-1)[None] - intersection
    return intersection / (union + 1e-6)


def match_via_iou(pred_logits: Tensor, target_masks: Tensor, labels: Tensor,
                  iou_threshold: float, count: int) -> tuple[Tensor, Tensor, Tensor]:
    """Predicted masks that cover a ground-truth mask, as released.

    Args:
        pred_logits: (Q, h, w) mask logits of the frozen segmenter.
        target_masks: (M, H, W) ground-truth masks (resized to h x w bilinearly).
        labels: (M,) their classes.
        iou_threshold: a ground-truth mask takes a random prediction above this IoU.
        count: matches kept (a random subset when more; zero masks labelled -1 pad).

    Returns:
        (count, h, w) predicted logits, (count, h, w) resized targets, (count,) labels.
    """
    size = pred_logits.shape[-2:]
    targets = F.interpolate(target_masks[:, None].float(), size=size, mode='bilinear',
                            align_corners=False)[:, 0]
    with torch.no_grad():
        ious = mask_iou(pred_logits.flatten(1), targets.flatten(1))
    pred_index, target_index = [], []
    for column in range(ious.shape[1]):
        candidates = (ious[:, column] > iou_threshold).nonzero(as_tuple=True)[0]
        if len(candidates):
            pred_index.append(int(candidates[torch.randint(len(candidates), ())]))
            target_index.append(column)
    if len(pred_index) > count:
        chosen = torch.randperm(len(pred_index))[:count].tolist()
        pred_index = [pred_index[i] for i in chosen]
        target_index = [target_index[i] for i in chosen]
    missing = count - len(pred_index)
    return (torch.cat([pred_logits[pred_index], pred_logits.new_zeros(missing, *size)]),
            torch.cat([targets[target_index], targets.new_zeros(missing, *size)]),
            torch.cat([labels[target_index], labels.new_full((missing,), -1)]))


def mixed_masks(pred_logits: Tensor | None, gt_masks: Tensor, gt_labels: Tensor, *,
                num_gt_masks: int, num_pred_masks: int, iou_threshold: float,
                mask_threshold: float) -> MixedMasks:
    """One image's mixed masks at the input size (H, W) of ``gt_masks``: sampled ground
    truth, binarised matched predictions, their ground-truth masks (released order)."""
    size = gt_masks.shape[-2:]
    gt, gt_classes = sample_ground_truth(gt_masks, gt_labels, num_gt_masks)
    if pred_logits is None or num_pred_masks == 0:  # ground-truth warm-up
        return MixedMasks(gt, gt_classes)
    pred, target, matched = match_via_iou(pred_logits, gt_masks, gt_labels, iou_threshold,
                                          num_pred_masks)
    binary = (pred.sigmoid() > mask_threshold).float()
    upsample = (lambda m: F.interpolate(m[None], size=size, mode='bilinear',
                                        align_corners=False)[0])
    return MixedMasks(torch.cat([gt, upsample(binary), upsample(target)]),
                      torch.cat([gt_classes, matched, matched]))


def mask_adapter_losses(logits: Tensor, labels: Tensor, embeddings: Tensor, num_gt_masks: int,
                        num_pred_masks: int, class_weight: float = 2.0,
                        cosine_weight: float = 5.0) -> dict[str, Tensor]:
    """The released losses.

    Args:
        logits: (B, N, K + 1) class logits of the N = G + 2P mixed masks (void last).
        labels: (B, N) classes, -1 ignored.
        embeddings: (B, N, C) mask embeddings.

    Returns:
        ``loss_ce`` (weighted cross-entropy, 0 when every label is -1) and ``loss_cosine``
        (``1 - cos(predicted, ground truth detached)``, averaged over all P slots).
    """
    if bool((labels == -1).all()):
        loss_ce = logits.sum() * 0.0
    else:
        loss_ce = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-1)
    if num_pred_masks == 0:  # ground-truth warm-up: no predicted masks
        return {'loss_ce': class_weight * loss_ce}
    start = num_gt_masks
    predicted = embeddings[:, start:start + num_pred_masks]
    ground_truth = embeddings[:, start + num_pred_masks:].detach()
    loss_cosine = 1 - F.cosine_similarity(predicted, ground_truth, dim=-1).mean()
    return {'loss_ce': class_weight * loss_ce, 'loss_cosine': cosine_weight * loss_cosine}
