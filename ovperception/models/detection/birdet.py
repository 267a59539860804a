"""BIRDet-style post-processing as pure functions: background modelling and POS.

Background modelling (BIRDet's BIM, training-free variant): instead of one fixed
background vector, each image gets its own background embeddings, the top-K
background/scene prompts closest to the image's global descriptor. Regions are
then scored by one softmax over ``[class names, background prompts]``; the
background entries take probability mass away from the classes (the re-scoring).

Partial Object Suppression (POS): a box is dropped when a kept, higher-scoring
box of the same class covers most of it, measured by an *overlap ratio*
(intersection over the candidate's area, or over the smaller box's area) instead
of IoU, so that boxes on parts of an object (a wheel of a car) go away even when
their IoU with the whole-object box is small.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ovperception.models.clip.vocabulary import TextEmbeddings

BACKGROUND_MODES = ('none', 'fixed', 'image')
POS_MODES = ('candidate', 'min')


def box_areas(boxes: Tensor) -> Tensor:
    """(N, 4) xyxy -> (N,) areas (0 for degenerate boxes)."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def pairwise_intersection(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """(N, 4), (M, 4) xyxy -> (N, M) intersection areas."""
    top_left = torch.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = torch.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    size = (bottom_right - top_left).clamp(min=0)
    return size[..., 0] * size[..., 1]


def overlap_ratio(boxes_a: Tensor, boxes_b: Tensor, mode: str = 'candidate') -> Tensor:
    """Overlap ratio of every pair.

    Args:
        boxes_a: (N, 4) xyxy candidates.
        boxes_b: (M, 4) xyxy reference boxes.
        mode: ``'candidate'``: ``|a ∩ b| / |a|`` (how much of ``a`` lies inside ``b``);
            ``'min'``: ``|a ∩ b| / min(|a|, |b|)``.

    Returns:
        (N, M) ratios in [0, 1]; 0 where the denominator is 0 (degenerate boxes).
    """
    if mode not in POS_MODES:
        raise ValueError(f'mode must be one of {POS_MODES}, got {mode!r}')
    inter = pairwise_intersection(boxes_a, boxes_b)
    area_a = box_areas(boxes_a)[:, None]
    denom = area_a if mode == 'candidate' else torch.minimum(area_a, box_areas(boxes_b)[None])
    return torch.where(denom > 0, inter / denom.clamp(min=1e-12), torch.zeros_like(inter))


def partial_object_suppression(boxes: Tensor, scores: Tensor, labels: Tensor,
                               threshold: float = 0.8, mode: str = 'candidate') -> Tensor:
    """Indices of the boxes kept by POS, in decreasing score order.

    Boxes are visited from the highest score down (ties: lower index first); a box is
    dropped when a *kept* box of the same label has ``overlap_ratio >= threshold``
    with it.

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,).
        labels: (N,) class indices.
        threshold: ratio at or above which the lower-scoring box is suppressed
            (> 1 disables POS).
        mode: see :func:`overlap_ratio`.

    Returns:
        (N_kept,) long indices into the inputs.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    ratio = overlap_ratio(boxes[order], boxes[order], mode)
    same = labels[order][:, None] == labels[order][None, :]
    covered = ((ratio >= threshold) & same).tril(diagonal=-1)  # by higher-ranked boxes only
    # Boxes that no higher-ranked box covers are kept whatever happens; the greedy order
    # only matters for the others, visited from the top down.
    at_risk = covered.any(dim=1)
    kept = ~at_risk
    for position in torch.nonzero(at_risk).flatten().tolist():
        kept[position] = not bool((covered[position, :position] & kept[:position]).any())
    return order[kept]


def image_descriptor(features: Tensor) -> Tensor:
    """(C, h, w) dense features -> (C,) L2-normalised mean of the normalised features."""
    return F.normalize(F.normalize(features.flatten(1), dim=0).mean(dim=1), dim=0)


def background_embeddings(text: TextEmbeddings, descriptor: Tensor | None, mode: str,
                          top_k: int = 3) -> Tensor:
    """Background embeddings of one image from the vocabulary's background words.

    Args:
        text: the vocabulary; its background words (names mapped to class K) form the bank.
        descriptor: (C,) normalised image descriptor (needed for ``'image'``).
        mode: ``'none'`` (no background: (0, C)), ``'fixed'`` (one vector: the normalised
            mean of all background words, the same for every image) or ``'image'``
            (BIRDet: the ``top_k`` background words most similar to the image).
        top_k: number of background embeddings per image for ``'image'``.

    Returns:
        (B, C) background embeddings (B = 0, 1 or min(top_k, #words)).

    Raises:
        ValueError: a background mode other than ``'none'`` without background words.
    """
    if mode not in BACKGROUND_MODES:
        raise ValueError(f'background mode must be one of {BACKGROUND_MODES}, got {mode!r}')
    bank = text.embeddings[text.name_to_class.to(text.embeddings.device) == text.num_classes]
    if mode == 'none':
        return bank[:0]
    if len(bank) == 0:
        raise ValueError(f"background_mode={mode!r} needs background words: set the model's "
                         "background_words (e.g. 'sky, wall, floor, ground') or use "
                         "background_mode='none'")
    if mode == 'fixed':
        return F.normalize(bank.mean(dim=0, keepdim=True), dim=-1)
    if descriptor is None:
        raise ValueError("background_mode='image' needs an image descriptor")
    similarity = bank @ descriptor.to(bank.dtype)
    top = torch.topk(similarity, k=min(top_k, len(bank))).indices
    return bank[top]


def classify_embeddings(embeddings: Tensor, text: TextEmbeddings, background: Tensor,
                        scale: float) -> tuple[Tensor, Tensor]:
    """Class and background probabilities of region (or pixel) embeddings.

    ``p = softmax(scale * [cos(e, names), cos(e, background)])``; a class takes the
    maximum over its synonyms, the background the sum over its embeddings.

    Args:
        embeddings: (R, C) region embeddings (normalised here).
        text: vocabulary of K classes (background words of ``text`` are *not* used here;
            pass them through ``background``).
        background: (B, C) background embeddings (B may be 0).
        scale: softmax temperature (CLIP logit scale).

    Returns:
        ``(class_probs (R, K), background_prob (R,))``.
    """
    embeddings = F.normalize(embeddings, dim=-1)
    is_class = text.name_to_class.to(embeddings.device) < text.num_classes
    names = text.embeddings.to(embeddings)[is_class]
    logits = scale * embeddings @ torch.cat([names, background.to(embeddings)]).T
    probs = torch.softmax(logits, dim=-1)
    name_probs, background_probs = probs[:, :len(names)], probs[:, len(names):]
    class_index = text.name_to_class.to(embeddings.device)[is_class]
    class_probs = probs.new_zeros((len(probs), text.num_classes)).scatter_reduce(
        1, class_index.expand_as(name_probs), name_probs, reduce='amax', include_self=True)
    return class_probs, background_probs.sum(dim=-1)


__all__ = ['BACKGROUND_MODES', 'POS_MODES', 'box_areas', 'pairwise_intersection',
           'overlap_ratio', 'partial_object_suppression', 'image_descriptor',
           'background_embeddings', 'classify_embeddings']
