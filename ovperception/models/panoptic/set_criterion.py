"""Set-prediction losses for mask transformers (Mask2Former / FC-CLIP).

Per image, predicted (class, mask) pairs are matched one-to-one to ground-truth segments
by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on the cost

    C[q, t] = w_cls * (-p_q(label_t)) + w_mask * BCE(m_q, M_t) + w_dice * Dice(m_q, M_t),

then the loss is cross-entropy over K + 1 classes (unmatched queries -> void, whose weight
is ``no_object_weight``), plus sigmoid BCE and dice losses on matched masks, averaged over
the number of ground-truth segments of the batch. Masks are compared either at the
prediction's resolution (targets area-downsampled; ``num_points=None``) or, as in
Mask2Former, at ``num_points`` uniformly random points for matching and at points chosen
by uncertainty (:func:`uncertain_points`) for the loss. Every decoder output gets the same loss (auxiliary losses ``d{i}.loss_*``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from ovperception.registry import MODELS


@dataclass
class SegmentTargets:
    """Ground-truth segments of one image.

    Attributes:
        labels: (T,) long class indices in [0, K).
        masks: (T, H, W) float {0, 1} at the padded input resolution.
    """

    labels: Tensor
    masks: Tensor


def pairwise_bce_cost(logits: Tensor, targets: Tensor) -> Tensor:
    """(Q, P) mask logits x (T, P) targets -> (Q, T) mean sigmoid BCE over the P points."""
    positive = F.softplus(-logits) @ targets.t()
    negative = F.softplus(logits) @ (1 - targets).t()
    return (positive + negative) / max(logits.shape[-1], 1)


def pairwise_dice_cost(logits: Tensor, targets: Tensor) -> Tensor:
    """(Q, P) x (T, P) -> (Q, T): 1 - (2 |p t| + 1) / (|p| + |t| + 1), p = sigmoid."""
    probs = logits.sigmoid()
    numerator = 2 * probs @ targets.t()
    denominator = probs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def dice_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Sum over the M matched pairs of (M, P) logits / targets of the dice loss."""
    probs = logits.sigmoid()
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum()


def bce_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Sum over the M matched pairs of the mean (over points) sigmoid BCE."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction='none').mean(-1).sum()


def sample_points(maps: Tensor, points: Tensor) -> Tensor:
    """Bilinear samples of (N, H, W) maps at xy points in [0, 1] -> (N, P).

    ``points`` is (P, 2) (the same points for every map) or (N, P, 2) (per map).
    """
    grid = points * 2 - 1
    if grid.dim() == 2:
        grid = grid[None].expand(maps.shape[0], -1, -1)
    grid = grid[:, None]  # (N, 1, P, 2)
    return F.grid_sample(maps[:, None], grid.to(maps.dtype), align_corners=False)[:, 0, 0]


def uncertain_points(logits: Tensor, num_points: int, oversample: float = 3.0,
                     importance: float = 0.75) -> Tensor:
    """Mask2Former's loss points: of ``oversample * P`` random candidates per mask, the
    ``importance * P`` most uncertain (logit closest to 0), plus uniformly random ones.

    Args:
        logits: (M, h, w) mask logits (no gradient needed).

    Returns:
        (M, P, 2) xy points in [0, 1].
    """
    count, device = logits.shape[0], logits.device
    candidates = torch.rand(count, int(oversample * num_points), 2, device=device)
    uncertainty = -sample_points(logits.detach(), candidates).abs()
    num_uncertain = int(importance * num_points)
    top = uncertainty.topk(num_uncertain, dim=1).indices
    chosen = torch.gather(candidates, 1, top[..., None].expand(-1, -1, 2))
    random = torch.rand(count, num_points - num_uncertain, 2, device=device)
    return torch.cat([chosen, random], dim=1)


@MODELS.register_module()
class MaskSetCriterion(nn.Module):
    """Hungarian-matched class + mask losses over every decoder output.

    Args:
        class_weight, mask_weight, dice_weight: weights of the three terms (Mask2Former:
            2, 5, 5), used both in the matching cost and in the loss.
        no_object_weight: cross-entropy weight of the void class (Mask2Former: 0.1).
        num_points: points per mask (Mask2Former: 12544; uniform for matching, 75 %
            uncertain for the loss); None compares whole masks at the prediction's
            resolution.
    """

    def __init__(self, class_weight: float = 2.0, mask_weight: float = 5.0,
                 dice_weight: float = 5.0, no_object_weight: float = 0.1,
                 num_points: int | None = None) -> None:
        super().__init__()
        self.class_weight, self.mask_weight = class_weight, mask_weight
        self.dice_weight, self.no_object_weight = dice_weight, no_object_weight
        self.num_points = num_points

    def _mask_pairs(self, logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """(Q, h, w) logits, (T, H, W) targets -> (Q, P) and (T, P) comparable values."""
        if self.num_points is None:
            resized = F.interpolate(targets[None], size=logits.shape[-2:], mode='area')[0]
            return logits.flatten(1), resized.flatten(1)
        points = torch.rand(self.num_points, 2, device=logits.device)
        return sample_points(logits, points), sample_points(targets, points)

    @torch.no_grad()
    def match(self, class_logits: Tensor, mask_points: Tensor, target_points: Tensor,
              labels: Tensor) -> tuple[Tensor, Tensor]:
        """Hungarian matching of one image: (query indices, target indices), both (M,)."""
        probs = class_logits.float().softmax(-1)[:, labels]
        cost = (self.class_weight * -probs
                + self.mask_weight * pairwise_bce_cost(mask_points.float(), target_points)
                + self.dice_weight * pairwise_dice_cost(mask_points.float(), target_points))
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        return (torch.as_tensor(rows, dtype=torch.long, device=labels.device),
                torch.as_tensor(cols, dtype=torch.long, device=labels.device))

    def single_output_loss(self, class_logits: Tensor, mask_logits: Tensor,
                           targets: list[SegmentTargets]) -> dict[str, Tensor]:
        """Losses of one decoder output.

        Args:
            class_logits: (B, Q, K + 1), void last.
            mask_logits: (B, Q, h, w).
            targets: B images' segments.
        """
        num_classes = class_logits.shape[-1] - 1
        class_target = torch.full(class_logits.shape[:2], num_classes, dtype=torch.long,
                                  device=class_logits.device)
        matched_logits, matched_targets = [], []
        for index, target in enumerate(targets):
            if len(target.labels) == 0:
                continue
            points, target_points = self._mask_pairs(mask_logits[index], target.masks)
            rows, cols = self.match(class_logits[index], points, target_points, target.labels)
            class_target[index, rows] = target.labels[cols]
            if self.num_points is None:  # whole masks: the matching values are the loss values
                matched_logits.append(points[rows])
                matched_targets.append(target_points[cols])
            else:  # loss at uncertain points of each matched mask
                loss_points = uncertain_points(mask_logits[index][rows], self.num_points)
                matched_logits.append(sample_points(mask_logits[index][rows], loss_points))
                matched_targets.append(sample_points(target.masks[cols], loss_points))
        weight = class_logits.new_ones(num_classes + 1)
        weight[-1] = self.no_object_weight
        loss_cls = F.cross_entropy(class_logits.transpose(1, 2).float(), class_target, weight)
        num_masks = max(sum(len(t.labels) for t in targets), 1)
        if matched_logits:
            logits = torch.cat(matched_logits).float()
            goal = torch.cat(matched_targets).float()
            loss_mask = bce_loss(logits, goal) / num_masks
            loss_dice = dice_loss(logits, goal) / num_masks
        else:  # no segment in the batch: keep the graph, nothing to pull masks towards
            loss_mask = loss_dice = mask_logits.sum() * 0.0
        return dict(loss_cls=self.class_weight * loss_cls, loss_mask=self.mask_weight * loss_mask,
                    loss_dice=self.dice_weight * loss_dice)

    def forward(self, outputs: list[tuple[Tensor, Tensor]],
                targets: list[SegmentTargets]) -> dict[str, Tensor]:
        """Losses of the last output (``loss_*``) and of the earlier ones (``d{i}.loss_*``)."""
        for target in targets:
            labels = target.labels
            if len(labels) and (int(labels.min()) < 0
                                or int(labels.max()) >= outputs[0][0].shape[-1] - 1):
                raise ValueError(f'target labels {np.unique(labels.cpu().numpy()).tolist()} '
                                 f'outside [0, {outputs[0][0].shape[-1] - 1})')
        losses = self.single_output_loss(*outputs[-1], targets)
        for index, output in enumerate(outputs[:-1]):
            for name, value in self.single_output_loss(*output, targets).items():
                losses[f'd{index}.{name}'] = value
        return losses
