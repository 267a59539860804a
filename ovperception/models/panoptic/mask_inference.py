"""Post-processing of mask proposals into semantic, panoptic and instance predictions.

Inputs per image: ``probs`` (Q, K + 1) class probabilities (void last) and ``masks``
(Q, H, W) mask logits at the output resolution. Definitions follow Mask2Former.

Panoptic maps use mmdet's encoding: ``label + instance_id * INSTANCE_OFFSET`` with
instance ids starting at 1 for things and 0 for stuff; ``VOID`` (-1) marks pixels that
belong to no segment.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from ovperception.models.refiners.mask_ops import masks_to_boxes
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID


def mask_pool(features: Tensor, mask_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Average of features under each binarised mask (FC-CLIP's out-of-vocabulary pooling).

    Args:
        features: (B, C, h, w) feature map (e.g. CLIP ``res5``).
        mask_logits: (B, Q, H', W') mask logits (resized bilinearly to (h, w)).

    Returns:
        ``(pooled (B, Q, C), valid (B, Q) bool)``; ``valid`` is False for masks without
        any pixel > 0 at (h, w) (their pooled vector is 0).
    """
    masks = F.interpolate(mask_logits, size=features.shape[-2:], mode='bilinear',
                          align_corners=False)
    binary = (masks > 0).to(features.dtype)
    area = binary.flatten(2).sum(-1)
    pooled = torch.einsum('bqhw,bchw->bqc', binary, features) / (area[..., None] + 1e-8)
    return pooled, area > 0


def semantic_inference(probs: Tensor, masks: Tensor) -> Tensor:
    """(Q, K + 1) probs, (Q, H, W) logits -> (K, H, W) per-class scores (void dropped)."""
    return torch.einsum('qk,qhw->khw', probs[:, :-1], masks.sigmoid())


def panoptic_inference(probs: Tensor, masks: Tensor, is_thing: Sequence[bool] | None = None, *,
                       object_mask_threshold: float = 0.8,
                       overlap_threshold: float = 0.8) -> tuple[Tensor, list[dict]]:
    """Mask2Former's panoptic merge.

    Queries whose best class is void or whose score <= ``object_mask_threshold`` are
    dropped; each pixel goes to the query maximising score * sigmoid(mask); a query keeps
    its pixels only if they are >= ``overlap_threshold`` of its own mask (sigmoid >= 0.5);
    stuff segments of one class merge.

    Args:
        probs: (Q, K + 1) probabilities, void last.
        masks: (Q, H, W) mask logits.
        is_thing: K flags (None: every class is a thing).

    Returns:
        ``(panoptic (H, W) long, segments)`` with segments ``dict(id, label, is_thing,
        score, area)``, ``id`` being the value written in the map.
    """
    num_classes = probs.shape[-1] - 1
    scores, labels = probs.max(-1)
    keep = (labels != num_classes) & (scores > object_mask_threshold)
    panoptic = torch.full(masks.shape[-2:], VOID, dtype=torch.long, device=masks.device)
    segments: list[dict] = []
    if not bool(keep.any()):
        return panoptic, segments
    scores, labels, mask_probs = scores[keep], labels[keep], masks[keep].sigmoid()
    owner = (scores[:, None, None] * mask_probs).argmax(0)
    stuff_ids: dict[int, int] = {}
    next_instance = 1
    for index in range(len(labels)):
        label = int(labels[index])
        thing = True if is_thing is None else bool(is_thing[label])
        own = mask_probs[index] >= 0.5
        region = (owner == index) & own
        area, own_area = int(region.sum()), int(own.sum())
        if area == 0 or own_area == 0 or area / own_area < overlap_threshold:
            continue
        if not thing and label in stuff_ids:
            panoptic[region] = stuff_ids[label]
            segment = next(s for s in segments if s['id'] == stuff_ids[label])
            segment['area'] += area
            continue
        segment_id = label + (next_instance * INSTANCE_OFFSET if thing else 0)
        next_instance += int(thing)
        if not thing:
            stuff_ids[label] = segment_id
        panoptic[region] = segment_id
        segments.append(dict(id=segment_id, label=label, is_thing=thing,
                             score=float(scores[index]), area=area))
    return panoptic, segments


def instance_inference(probs: Tensor, masks: Tensor, is_thing: Sequence[bool] | None = None, *,
                       max_instances: int = 100) -> InstanceData:
    """Top-k (query, class) pairs as instances, scored by class prob x mean mask prob.

    Returns:
        ``InstanceData`` with ``masks`` (N, H, W) bool, ``labels`` (N,), ``scores`` (N,),
        ``bboxes`` (N, 4) xyxy; only thing classes when ``is_thing`` is given.
    """
    class_probs = probs[:, :-1]
    if is_thing is not None:
        class_probs = class_probs * torch.as_tensor(list(is_thing), dtype=class_probs.dtype,
                                                    device=class_probs.device)
    num_classes = class_probs.shape[-1]
    top = min(max_instances, class_probs.numel())
    scores, flat = class_probs.flatten().topk(top)
    query, labels = flat // num_classes, flat % num_classes
    keep = scores > 0
    scores, query, labels = scores[keep], query[keep], labels[keep]
    chosen = masks[query]
    binary = chosen > 0
    mask_scores = ((chosen.sigmoid() * binary).flatten(1).sum(-1)
                   / (binary.flatten(1).sum(-1) + 1e-6))
    return InstanceData(masks=binary, labels=labels, scores=scores * mask_scores,
                        bboxes=masks_to_boxes(binary, exclusive_end=True))
