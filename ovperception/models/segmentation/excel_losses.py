"""ExCEL's training losses (zwyang6/ExCEL ``model/losses.py`` and ``utils/camutils.py``).

* :func:`balanced_segmentation_loss`: cross-entropy averaged separately over the background
  pixels and over the foreground pixels of the pseudo-masks, the two halves weighted 0.5.
* :func:`affinity_labels`: pairwise "same label" targets on the patch grid from a label map
  (nearest-resized to ``1/16``), outside a window of radius ``r`` (:func:`radius_mask`) and
  for ignored patches: ``ignore_index``. The official file defines this function twice; the
  second (live) definition keeps the diagonal, and so does this one.
* :func:`affinity_loss`: ``0.5 * mean(1 - p)`` over same-label pairs + ``0.5 * mean(p)`` over
  different-label pairs of the predicted affinity ``p`` (denominators + 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = 255
#: The patch stride the official affinity labels assume (``h // 16``).
LABEL_STRIDE = 16


def balanced_segmentation_loss(logits: Tensor, labels: Tensor,
                               ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Scalar: mean of the background-pixel and foreground-pixel cross-entropies.

    Args:
        logits: (B, K, H, W) class logits, background = class 0.
        labels: (B, H, W) integer pseudo-masks (``ignore_index`` ignored).
    """
    labels = labels.long()
    per_pixel = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction='none')
    valid = labels != ignore_index
    background, foreground = valid & (labels == 0), valid & (labels != 0)
    background_loss = (per_pixel * background).sum() / (background.sum() + 1e-6)
    foreground_loss = (per_pixel * foreground).sum() / (foreground.sum() + 1e-6)
    return (background_loss + foreground_loss) * 0.5


def radius_mask(height: int, width: int, radius: int, device: torch.device | str = 'cpu'
                ) -> Tensor:
    """(h*w, h*w) bool: patches within ``radius`` of each other in both row and column."""
    rows = torch.arange(height, device=device).repeat_interleave(width)
    cols = torch.arange(width, device=device).repeat(height)
    return (((rows[:, None] - rows[None]).abs() <= radius)
            & ((cols[:, None] - cols[None]).abs() <= radius))


def affinity_labels(label_map: Tensor, mask: Tensor | None = None,
                    ignore_index: int = IGNORE_INDEX) -> Tensor:
    """(B, n, n) int64 targets: 1 same label, 0 different, ``ignore_index`` elsewhere.

    Args:
        label_map: (B, H, W) labels; resized (nearest) to (H // 16, W // 16), n = their product.
        mask: optional (n, n) bool, False pairs ignored (:func:`radius_mask`).
    """
    height, width = label_map.shape[-2:]
    small = F.interpolate(label_map[:, None].float(),
                          size=[height // LABEL_STRIDE, width // LABEL_STRIDE], mode='nearest')
    flat = small.flatten(1)                                         # (B, n)
    labels = (flat[:, None, :] == flat[:, :, None]).long()
    if mask is not None:
        labels = labels.masked_fill(~mask.bool().to(labels.device)[None], ignore_index)
    ignored = flat == ignore_index
    return labels.masked_fill(ignored[:, None, :] | ignored[:, :, None], ignore_index)


def affinity_loss(predicted: Tensor, targets: Tensor) -> Tensor:
    """Scalar: 0.5 * mean(1 - p) over pairs labelled 1 + 0.5 * mean(p) over pairs labelled 0.

    Args:
        predicted: (B, n, n) affinity in (0, 1).
        targets: (B, n, n) from :func:`affinity_labels`.
    """
    positive, negative = (targets == 1), (targets == 0)
    positive_loss = (positive * (1 - predicted)).sum() / (positive.sum() + 1)
    negative_loss = (negative * predicted).sum() / (negative.sum() + 1)
    return 0.5 * positive_loss + 0.5 * negative_loss
