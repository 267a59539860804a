"""Segmentation losses of AnomalyCLIP / APRIL-GAN: focal + dice on anomaly maps."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6


def focal_loss(probs: Tensor, target: Tensor, gamma: float = 2.0, smooth: float = 0.0) -> Tensor:
    """Multi-class focal loss on probabilities.

    Args:
        probs: (B, K, H, W) class probabilities (softmax over K).
        target: (B, H, W) long class indices.
        gamma: focusing parameter (2 in AnomalyCLIP).
        smooth: label smoothing as AnomalyCLIP's ``FocalLoss`` (1e-5 there): the one-hot
            target is clamped to [s / (K - 1), 1 - s] and ``p_t = <target, p> + s``.

    Returns:
        scalar mean over pixels of ``-(1 - p_t)^gamma log p_t``.
    """
    if smooth > 0:
        num_classes = probs.shape[1]
        one_hot = F.one_hot(target, num_classes).movedim(-1, 1).to(probs.dtype)
        one_hot = one_hot.clamp(smooth / (num_classes - 1), 1.0 - smooth)
        p_t = (one_hot * probs).sum(1) + smooth
        return (-(1.0 - p_t) ** gamma * torch.log(p_t)).mean()
    p_t = probs.gather(1, target.unsqueeze(1)).squeeze(1).clamp(EPS, 1.0)
    return (-(1.0 - p_t) ** gamma * torch.log(p_t)).mean()


def dice_loss(probs: Tensor, target: Tensor, smooth: float = 1.0) -> Tensor:
    """Binary dice loss ``1 - (2 |P T| + s) / (|P| + |T| + s)`` averaged over the batch.

    Args:
        probs: (B, H, W) foreground probabilities.
        target: (B, H, W) binary targets.
    """
    p = probs.flatten(1)
    t = target.flatten(1).to(p.dtype)
    dice = (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return (1.0 - dice).mean()
