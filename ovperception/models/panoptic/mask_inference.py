"""Post-processing of mask proposals into semantic, panoptic and instance predictions.

Inputs per image: ``probs`` (Q, K + 1) class probabilities (void last) and ``masks``
(Q, H, W) mask logits at the output resolution. Definitions follow Mask2Former.

Panoptic maps use mmdet's encoding: ``label + instance_id * INSTANCE_OFFSET`` with
instance ids starting at 1 for things and 0 for stuff; ``VOID`` (-1) marks pixels that
belong to no segment.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn

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
    masks = mask_logits.detach()
    if masks.shape[-2:] != features.shape[-2:]:
        masks = F.interpolate(masks, size=features.shape[-2:], mode='bilinear',
                              align_corners=False)
    binary = (masks > 0).to(features.dtype)
    area = binary.sum(dim=(-1, -2), keepdim=True)
    pooled = torch.einsum('bchw,bqhw->bqc', features, binary / (area + 1e-8))
    return pooled, area[..., 0, 0] > 0


def masked_attention_pool(pool: nn.Module, features: Tensor, mask_logits: Tensor) -> Tensor:
    """FC-CLIP's ResNet out-of-vocabulary pooling: CLIP's attention pool, one query per mask.

    The query of every mask is CLIP's usual one (mean of all locations + the class position
    embedding); its attention is restricted to the mask's pixels (logit > 0) and keys / values
    carry the bilinearly resized spatial position embedding.

    Args:
        pool: open_clip ``AttentionPool2d`` (``positional_embedding``, ``q_proj``, ``k_proj``,
            ``v_proj``, ``c_proj``, ``num_heads``).
        features: (B, C, h, w) ``res5`` trunk features.
        mask_logits: (B, Q, H', W') mask logits (resized bilinearly to (h, w)).

    Returns:
        (B, Q, C_out) pooled embeddings in the joint space. A mask with no pixel attends to
        nothing (torch then returns ``c_proj``'s bias; the released ResNet configs ensemble
        only non-empty masks, so those rows are not used there).
    """
    batch, channels, height, width = features.shape
    masks = mask_logits
    if masks.shape[-2:] != (height, width):
        masks = F.interpolate(masks, size=(height, width), mode='bilinear', align_corners=False)
    num_masks = masks.shape[1]
    pos = pool.positional_embedding.to(features.dtype)
    side = int(math.isqrt(pos.shape[0] - 1))
    spatial = pos[1:].t().reshape(1, channels, side, side)
    spatial = F.interpolate(spatial, size=(height, width), mode='bilinear', align_corners=False)
    spatial = spatial.flatten(2).permute(2, 0, 1)  # (hw, 1, C)
    tokens = features.flatten(2).permute(2, 0, 1)  # (hw, B, C)
    keys = tokens + spatial
    query = (tokens.mean(0, keepdim=True) + pos[:1, None, :]).repeat_interleave(num_masks, 0)
    blocked = masks.reshape(batch, num_masks, height * width) <= 0
    blocked = blocked[:, None].expand(-1, pool.num_heads, -1, -1).reshape(
        batch * pool.num_heads, num_masks, height * width)
    out = F.multi_head_attention_forward(
        query=query, key=keys, value=keys, embed_dim_to_check=channels,
        num_heads=pool.num_heads, q_proj_weight=pool.q_proj.weight,
        k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight,
        in_proj_weight=None,
        in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
        out_proj_weight=pool.c_proj.weight, out_proj_bias=pool.c_proj.bias,
        use_separate_proj_weight=True, training=False, need_weights=False,
        attn_mask=blocked)[0]
    return out.permute(1, 0, 2)


def semantic_inference(probs: Tensor, masks: Tensor) -> Tensor:
    """(Q, K + 1) probs, (Q, H, W) logits -> (K, H, W) per-class scores (void dropped)."""
    return torch.einsum('qk,qhw->khw', probs[:, :-1], masks.sigmoid())


def panoptic_inference(probs: Tensor, masks: Tensor, is_thing: Sequence[bool] | None = None, *,
                       object_mask_threshold: float = 0.8,
                       overlap_threshold: float = 0.8) -> tuple[Tensor, list[dict]]:
    """Mask2Former's panoptic merge.

    Queries whose best class is void or whose score <= ``object_mask_threshold`` are
    dropped; each pixel goes to the query maximising score * sigmoid(mask); a query is kept
    when the pixels it wins (``|argmax == q|``) are >= ``overlap_threshold`` of its own mask
    area (sigmoid >= 0.5), and then labels the pixels it wins inside its own mask; stuff
    segments of one class merge. This is the released rule (FC-CLIP / Mask2Former).

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
        won = owner == index
        region = won & own
        won_area, own_area, area = int(won.sum()), int(own.sum()), int(region.sum())
        if won_area == 0 or own_area == 0 or area == 0 or won_area / own_area < overlap_threshold:
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

    As released: the top ``max_instances`` pairs are taken over all classes, then those of
    stuff classes are dropped (when ``is_thing`` is given), so fewer may remain.

    Returns:
        ``InstanceData`` with ``masks`` (N, H, W) bool, ``labels`` (N,), ``scores`` (N,),
        ``bboxes`` (N, 4) xyxy, ordered by class probability.
    """
    class_probs = probs[:, :-1]
    num_classes = class_probs.shape[-1]
    top = min(max_instances, class_probs.numel())
    scores, flat = class_probs.flatten().topk(top)
    query, labels = flat // num_classes, flat % num_classes
    if is_thing is not None:
        keep = torch.as_tensor(list(is_thing), dtype=torch.bool, device=labels.device)[labels]
        scores, query, labels = scores[keep], query[keep], labels[keep]
    chosen = masks[query]
    binary = chosen > 0
    mask_scores = ((chosen.sigmoid() * binary).flatten(1).sum(-1)
                   / (binary.flatten(1).sum(-1) + 1e-6))
    return InstanceData(masks=binary, labels=labels, scores=scores * mask_scores,
                        bboxes=masks_to_boxes(binary, exclusive_end=True))
