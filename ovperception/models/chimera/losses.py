"""Chimera-Seg's training losses besides the pixel cross-entropy."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sgd_keep_ratio(step: int, total_steps: int, start: float, end: float) -> float:
    """Fraction of the dense features distilled at ``step``: linear from ``start`` to ``end``
    over ``total_steps``, then ``end`` (SGD's gradual reduction)."""
    if total_steps <= 0:
        return end
    progress = min(max(step, 0) / total_steps, 1.0)
    return start + (end - start) * progress


def selective_global_distillation(dense: Tensor, global_embedding: Tensor,
                                  keep_ratio: float) -> Tensor:
    """Selective Global Distillation: the dense features most similar to CLIP's global (CLS)
    embedding are pulled towards it.

    Args:
        dense: (B, C, h, w) student features in CLIP's joint space.
        global_embedding: (B, C) L2-normalised global embeddings of the frozen CLIP (targets).
        keep_ratio: fraction in (0, 1] of the h*w features per image that are distilled (the
            ``ceil(ratio * h*w)`` with the highest cosine to the target, at least one).

    Returns:
        Scalar ``1 - cos`` averaged over the selected features.
    """
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f'keep_ratio must lie in (0, 1], got {keep_ratio}')
    flat = F.normalize(dense.flatten(2), dim=1)  # (B, C, M)
    cosine = torch.einsum('bcm,bc->bm', flat, global_embedding.to(flat))
    count = max(1, int(torch.tensor(keep_ratio * cosine.shape[1]).ceil()))
    selected = cosine.topk(count, dim=1).values
    return 1.0 - selected.mean()


def semantic_alignment_loss(class_logits: Tensor, classes: Tensor) -> Tensor:
    """Cross-entropy of mask-pooled region features against the text of their class.

    Args:
        class_logits: (M, K) scaled cosine logits of M class regions' pooled features.
        classes: (M,) class index of each region.
    """
    return F.cross_entropy(class_logits, classes)


def class_region_features(features: Tensor, labels: Tensor, num_classes: int,
                          ignore_index: int = 255) -> tuple[Tensor, Tensor]:
    """Mean feature of every class present in every image.

    Args:
        features: (B, C, h, w) dense features.
        labels: (B, H, W) class maps (``ignore_index`` skipped), resized here to (h, w)
            by nearest neighbour.
        num_classes: K; labels outside [0, K) are ignored.

    Returns:
        (M, C) pooled features and their (M,) class indices (M may be 0).
    """
    small = F.interpolate(labels[:, None].float(), size=features.shape[-2:],
                          mode='nearest')[:, 0].long()
    valid = (small >= 0) & (small < num_classes) & (small != ignore_index)
    one_hot = F.one_hot(torch.where(valid, small, 0), num_classes).permute(0, 3, 1, 2)
    one_hot = one_hot.to(features) * valid[:, None].to(features)  # (B, K, h, w)
    area = one_hot.sum((2, 3))  # (B, K)
    pooled = torch.einsum('bkhw,bchw->bkc', one_hot, features) / area.clamp(min=1)[..., None]
    present = area > 0
    classes = torch.arange(num_classes, device=features.device).expand_as(area)
    return pooled[present], classes[present]
