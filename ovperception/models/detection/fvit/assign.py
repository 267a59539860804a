"""Training targets of two-stage detectors: max-IoU assignment and random balanced sampling."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou


@dataclass
class Assignment:
    """Per candidate: ``gt_index`` (-1 negative, -2 ignored, else the matched box) and
    ``max_iou`` (N,)."""

    gt_index: Tensor
    max_iou: Tensor


def max_iou_assign(candidates: Tensor, gt_boxes: Tensor, pos_iou: float, neg_iou: float,
                   min_pos_iou: float, match_low_quality: bool) -> Assignment:
    """Max-IoU assignment (Faster R-CNN): IoU >= ``pos_iou`` positive, < ``neg_iou``
    negative, between ignored; with ``match_low_quality`` every gt box also takes the
    candidates of its highest IoU (>= ``min_pos_iou``).

    Args:
        candidates: (N, 4) xyxy anchors or proposals.
        gt_boxes: (G, 4) xyxy.
    """
    n = candidates.shape[0]
    if gt_boxes.numel() == 0:
        return Assignment(torch.full((n,), -1, dtype=torch.long, device=candidates.device),
                          candidates.new_zeros(n))
    iou = box_iou(gt_boxes, candidates)  # (G, N)
    max_iou, argmax = iou.max(dim=0)
    index = torch.full((n,), -2, dtype=torch.long, device=candidates.device)
    index[(max_iou >= 0) & (max_iou < neg_iou)] = -1
    positive = max_iou >= pos_iou
    index[positive] = argmax[positive]
    if match_low_quality:
        best_per_gt = iou.max(dim=1).values
        for g in range(gt_boxes.shape[0]):
            if best_per_gt[g] >= min_pos_iou:
                index[iou[g] == best_per_gt[g]] = g
    return Assignment(index, max_iou)


def sample_balanced(assignment: Assignment, num: int, pos_fraction: float,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random positives (at most ``num * pos_fraction``) and negatives filling ``num``.

    Returns:
        ``(positive indices, negative indices)``.
    """
    index = assignment.gt_index
    pos = torch.nonzero(index >= 0).flatten()
    neg = torch.nonzero(index == -1).flatten()
    num_pos = min(int(num * pos_fraction), pos.numel())
    pos = pos[torch.randperm(pos.numel(), generator=generator, device='cpu')[:num_pos]
              .to(pos.device)]
    num_neg = min(num - num_pos, neg.numel())
    neg = neg[torch.randperm(neg.numel(), generator=generator, device='cpu')[:num_neg]
              .to(neg.device)]
    return pos, neg
