"""SAM refinement of a semantic label map: coarse class regions -> SAM prompts -> sharp masks.

For every class present in ``pred_sem_seg`` (ignoring ``ignore_index`` and ``skip_labels``):

1. optionally drop pixels whose class probability (``seg_logits``) is below
   ``coarse_threshold``; split the class mask into 8-connected components and drop those
   smaller than ``min_area`` pixels;
2. each component becomes one SAM prompt: its tight box, ``num_points`` positive points at
   the maxima of its distance transform, and (``mask_prompt=True``) the class's logit map
   ``log(p / (1 - p))`` restricted to the component's box;
3. SAM runs **once per image** for the encoder and once, batched, for all prompts;
4. masks with a predicted IoU below ``iou_threshold``, an area below ``min_area`` or an IoU
   with their own component below ``min_component_iou`` are dropped;
5. merge: every pixel covered by kept masks takes the class of the covering mask with the
   highest ``SAM predicted IoU x class score`` (class score = mean class probability over the
   component, 1 without ``seg_logits``); that is the union of each class's masks with
   overlaps resolved by score. Pixels no kept mask covers keep their coarse label.

``seg_logits`` (probabilities at the working resolution) are used, never changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.refiners.mask_ops import connected_components, interior_points
from ovperception.models.refiners.sam import SAMImageState, SAMWrapper
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

IGNORE_INDEX = 255


@dataclass
class SAMRefineOptions:
    """Options of :func:`refine_sem_seg_with_sam` (see the module docstring).

    Attributes:
        min_area: components and SAM masks smaller than this (pixels of ``pred_sem_seg``)
            are dropped (Trident: 225).
        iou_threshold: SAM masks whose predicted IoU is below this are dropped.
        num_points: positive points per component.
        mask_prompt: also prompt with the class's logit map (SAM is trained on its own
            low-res logits as mask prompts, so this is off by default).
        multimask: ask SAM for three masks per prompt and keep the best-scored one.
        skip_labels: labels never refined (e.g. ``(0,)`` for a VOC21 background class).
        coarse_threshold: pixels whose class probability is below this do not form prompts.
        min_component_iou: SAM masks whose IoU with their prompting component is below this
            are dropped (guards against a mask swallowing the image).
        max_prompts: at most this many components (the largest) are prompted per image.
        mask_logit_clip: magnitude clip of the mask-prompt logits.
        ignore_index: the unlabelled value of ``pred_sem_seg``.
    """

    min_area: int = 225
    iou_threshold: float = 0.8
    num_points: int = 1
    mask_prompt: bool = False
    multimask: bool = False
    skip_labels: Sequence[int] = field(default_factory=tuple)
    coarse_threshold: float = 0.0
    min_component_iou: float = 0.0
    max_prompts: int = 256
    mask_logit_clip: float = 10.0
    ignore_index: int = IGNORE_INDEX

    def __post_init__(self) -> None:
        if self.min_area < 0 or self.num_points < 1 or self.max_prompts < 1:
            raise ValueError(f'need min_area >= 0, num_points >= 1 and max_prompts >= 1, got '
                             f'{self.min_area}, {self.num_points}, {self.max_prompts}')
        for name in ('coarse_threshold', 'min_component_iou'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must lie in [0, 1], got {getattr(self, name)}')
        self.skip_labels = tuple(int(label) for label in self.skip_labels)

    @classmethod
    def from_kwargs(cls, **kwargs) -> 'SAMRefineOptions':
        """Build from keyword options, naming unknown keys clearly."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f'unknown SAM refinement options {unknown}; valid: {sorted(known)}')
        return cls(**kwargs)


@dataclass
class SAMPrompts:
    """One prompt per coarse component.

    Attributes:
        boxes: (N, 4) xyxy (inclusive ends) in label-map pixels.
        points: (N, P, 2) xy; padding points carry label -1 (SAM's "not a point").
        point_labels: (N, P) 1 = foreground, -1 = padding.
        labels: (N,) class of each component.
        class_scores: (N,) mean class probability over the component (1 without scores).
        component_ids: (N,) id of the component inside its class's id map.
        component_maps: per class, the (H, W) int32 component ids.
    """

    boxes: Tensor
    points: Tensor
    point_labels: Tensor
    labels: Tensor
    class_scores: Tensor
    component_ids: Tensor
    component_maps: dict[int, np.ndarray]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def class_probability_map(probs: Tensor, label: int, size: tuple[int, int]) -> Tensor:
    """(K, h, w) probabilities -> (H, W) probability of ``label`` resized to ``size``."""
    return F.interpolate(probs[label][None, None].float(), size=size, mode='bilinear',
                         align_corners=False)[0, 0]


def prompts_from_label_map(labels: np.ndarray, probs: Tensor | None,
                           options: SAMRefineOptions) -> SAMPrompts:
    """SAM prompts (box + interior points) for every large-enough component of every class.

    Args:
        labels: (H, W) integer label map.
        probs: (K, h, w) class probabilities (any resolution) or None.
        options: thresholds and point counts.
    """
    size = labels.shape
    records = []  # (area, label, component id, box, points, score)
    component_maps: dict[int, np.ndarray] = {}
    for label in np.unique(labels).tolist():
        if label == options.ignore_index or label in options.skip_labels:
            continue
        mask = labels == label
        prob = None
        if probs is not None and label < probs.shape[0]:
            prob = class_probability_map(probs, label, size).cpu().numpy()
            if options.coarse_threshold > 0:
                mask &= prob >= options.coarse_threshold
        ids, areas, boxes = connected_components(mask)
        component_maps[label] = ids
        for index in np.nonzero(areas >= max(options.min_area, 1))[0].tolist():
            x0, y0, x1, y1 = boxes[index].tolist()
            component = ids[y0:y1 + 1, x0:x1 + 1] == index + 1  # cropped to its box
            points = interior_points(component, options.num_points) + np.float32([x0, y0])
            score = (float(prob[y0:y1 + 1, x0:x1 + 1][component].mean())
                     if prob is not None else 1.0)
            records.append((int(areas[index]), label, index + 1, (x0, y0, x1, y1), points,
                            score))
    records.sort(key=lambda record: -record[0])
    records = records[:options.max_prompts]
    num = len(records)
    points = torch.zeros(num, options.num_points, 2)
    point_labels = -torch.ones(num, options.num_points, dtype=torch.int64)
    for row, record in enumerate(records):
        found = torch.from_numpy(record[4])
        points[row, :len(found)] = found
        point_labels[row, :len(found)] = 1
    return SAMPrompts(
        boxes=torch.tensor([r[3] for r in records], dtype=torch.float32).reshape(num, 4),
        points=points, point_labels=point_labels,
        labels=torch.tensor([r[1] for r in records], dtype=torch.int64),
        class_scores=torch.tensor([r[5] for r in records], dtype=torch.float32),
        component_ids=torch.tensor([r[2] for r in records], dtype=torch.int64),
        component_maps=component_maps)


def mask_prompts(prompts: SAMPrompts, probs: Tensor, sam: SAMWrapper, state: SAMImageState,
                 clip: float) -> Tensor:
    """(N, 1, mh, mw) SAM mask inputs: each class's logit map, kept inside its component box.

    Args:
        probs: (K, h, w) class probabilities covering the whole image.
    """
    height, width = probs.shape[-2:]
    frame_h, frame_w = state.original_size
    eps = 1e-6
    maps = []
    for label, box in zip(prompts.labels.tolist(), prompts.boxes.tolist()):
        prob = probs[label].float().clamp(eps, 1 - eps)
        logit = (prob.log() - (1 - prob).log()).clamp(-clip, clip)
        x0, y0 = int(box[0] * width / frame_w), int(box[1] * height / frame_h)
        x1, y1 = int(box[2] * width / frame_w) + 1, int(box[3] * height / frame_h) + 1
        inside = torch.zeros_like(logit, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        maps.append(logit.masked_fill(~inside, -clip))
    return sam.to_mask_input(torch.stack(maps), state, fill=-clip)


def merge_masks(coarse: Tensor, masks: Tensor, labels: Tensor, scores: Tensor,
                chunk: int = 32) -> Tensor:
    """Paint masks over a label map; each pixel takes its highest-scored covering mask.

    Args:
        coarse: (H, W) integer labels (kept where no mask covers a pixel).
        masks: (N, H, W) bool.
        labels: (N,) class of each mask.
        scores: (N,) ranking score of each mask (ties: the earlier mask wins).
        chunk: masks compared at once (memory ``chunk x H x W`` floats).

    Returns:
        (H, W) refined labels (same dtype as ``coarse``).
    """
    best = torch.full(coarse.shape, float('-inf'), device=coarse.device)
    winner = torch.full(coarse.shape, -1, dtype=torch.int64, device=coarse.device)
    for start in range(0, masks.shape[0], chunk):
        part = masks[start:start + chunk]
        ranked = torch.where(part, scores[start:start + chunk, None, None].float(),
                             torch.tensor(float('-inf')))
        value, index = ranked.max(dim=0)
        wins = value > best
        best = torch.where(wins, value, best)
        winner = torch.where(wins, index + start, winner)
    covered = winner >= 0
    refined = coarse.clone()
    refined[covered] = labels.to(coarse.device)[winner[covered]].to(coarse.dtype)
    return refined


def refine_sem_seg_with_sam(image: np.ndarray | Tensor, sample: OVDataSample, sam: SAMWrapper,
                            options: SAMRefineOptions | None = None, *,
                            state: SAMImageState | None = None, probs: Tensor | None = None,
                            **kwargs) -> OVDataSample:
    """Refine one sample's ``pred_sem_seg`` with SAM (see the module docstring).

    Works on any prediction: the image may be the original (H, W, 3) uint8 RGB array or the
    (3, h, w) float 0..255 working-resolution tensor; prompts and masks live in the pixels of
    ``pred_sem_seg``.

    Args:
        image: the image the labels belong to.
        sample: carries ``pred_sem_seg`` (1, H, W) and optionally ``seg_logits`` (K, h, w).
        sam: the SAM model.
        options: refinement options (or give them as keyword arguments).
        state: a SAM state of this image already encoded with ``original_size = (H, W)``.
        probs: (K, h, w) class probabilities to use instead of ``sample.seg_logits``.

    Returns:
        ``sample`` with refined ``pred_sem_seg``.

    Example::

        sam = SAMWrapper('vit_b', checkpoint='sam_vit_b_01ec64.pth')
        sample = predictor.predict(['cat', 'sofa'])
        sample = refine_sem_seg_with_sam(predictor.image, sample, sam, min_area=100)
    """
    if options is None:
        options = SAMRefineOptions.from_kwargs(**kwargs)
    elif kwargs:
        raise TypeError('give either options or keyword options, not both')
    if 'pred_sem_seg' not in sample:
        raise ValueError('refine_sem_seg_with_sam needs a sample with pred_sem_seg')
    coarse = sample.pred_sem_seg.data[0]
    size = tuple(int(v) for v in coarse.shape)
    if probs is None and 'seg_logits' in sample:
        probs = sample.seg_logits.data
    prompts = prompts_from_label_map(coarse.cpu().numpy(), probs, options)
    if len(prompts) == 0:
        return sample
    if state is None:
        state = sam.set_image(image, original_size=size)
    elif tuple(state.original_size) != size:
        raise ValueError(f'the SAM state covers {state.original_size}, the labels {size}')
    mask_inputs = (mask_prompts(prompts, probs, sam, state, options.mask_logit_clip)
                   if options.mask_prompt and probs is not None else None)
    result = sam.predict(state, points=prompts.points, point_labels=prompts.point_labels,
                         boxes=prompts.boxes, mask_inputs=mask_inputs,
                         multimask=options.multimask)
    best = result.iou_scores.argmax(dim=1)
    rows = torch.arange(len(prompts), device=best.device)
    masks, ious = result.masks[rows, best].cpu(), result.iou_scores[rows, best].float().cpu()
    keep = (ious >= options.iou_threshold) & (masks.flatten(1).sum(1) >= max(options.min_area, 1))
    if options.min_component_iou > 0:
        keep &= component_ious(masks, prompts) >= options.min_component_iou
    if not bool(keep.any()):
        return sample
    refined = merge_masks(coarse.cpu(), masks[keep], prompts.labels[keep],
                          ious[keep] * prompts.class_scores[keep])
    sample.pred_sem_seg = PixelData(data=refined.to(coarse.device)[None])
    return sample


def component_ious(masks: Tensor, prompts: SAMPrompts) -> Tensor:
    """(N,) IoU of each SAM mask with the component that prompted it."""
    ious = []
    for mask, label, index in zip(masks, prompts.labels.tolist(),
                                  prompts.component_ids.tolist()):
        component = torch.from_numpy(prompts.component_maps[label] == index)
        union = (mask | component).sum()
        ious.append(float((mask & component).sum()) / max(float(union), 1.0))
    return torch.tensor(ious)


@MODELS.register_module()
class SAMRefiner(nn.Module):
    """Post-head refiner: sharpen every sample's ``pred_sem_seg`` with SAM.

    ``refine(images, samples)`` encodes each (3, h, w) 0..255 working-resolution image once
    with SAM (treating it as a view of the ``ori_shape`` original) and runs
    :func:`refine_sem_seg_with_sam`. With the head's ``return_logits=True``, the class
    probabilities give the component scores (and optional mask prompts).

    Args:
        sam: a :class:`SAMWrapper` or its config (``dict(type='SAMWrapper',
            model_type='vit_b', checkpoint='sam_vit_b_01ec64.pth')``).
        **options: :class:`SAMRefineOptions` fields.
    """

    def __init__(self, sam: SAMWrapper | dict, **options) -> None:
        super().__init__()
        self.sam = MODELS.build(sam) if isinstance(sam, dict) else sam
        self.options = SAMRefineOptions.from_kwargs(**options)

    def refine(self, images: list[Tensor], samples: SampleList) -> list[OVDataSample]:
        """Refine each sample with its (3, h, w) RGB 0..255 image."""
        if len(images) != len(samples):
            raise ValueError(f'{len(images)} images for {len(samples)} samples')
        return [refine_sem_seg_with_sam(image, sample, self.sam, self.options)
                for image, sample in zip(images, samples)]

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f'options={self.options}'


def _preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """SAM's ``ResizeLongestSide.get_preprocess_shape``."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def trident_refinement(labels: Tensor, probs: Tensor, sam: SAMWrapper, state: SAMImageState, *,
                       coarse_threshold: float = 0.2, min_area: int = 225,
                       mask_coefficient: float = 0.005,
                       iou_threshold: float = 0.8) -> tuple[Tensor, Tensor]:
    """The official Trident SAM refinement (its ``seg_utils.sam_refinement``), written anew.

    At half resolution, pixels whose top probability is below ``coarse_threshold`` are set
    aside; each class whose probability reaches it is split into 8-connected components of at
    least ``min_area`` (half-resolution) pixels; each component prompts SAM with its box, the
    point of its highest class probability and the class's probability map as a mask prompt
    (``mask_coefficient * p`` where ``p > coarse_threshold``, else 0). Masks whose predicted IoU
    exceeds ``iou_threshold`` are kept; a class's refined score is the max over its masks of
    ``sigmoid(SAM logit) * p`` inside their union, the label the argmax over classes (the
    coarse label where no class has a mask); pixels of rejected components keep ``p`` as
    their score. As in the official code the mask prompt goes to SAM unbatched, (1, 256, 256),
    shared by the class's prompts (SAM's mask downscaling then normalises it over rows instead
    of channels; reproduced, it changes SAM's output).

    Args:
        labels: (H, W) coarse labels (after the probability threshold).
        probs: (K, H, W) class probabilities.
        state: SAM state of the image SAM saw (any size; masks are resized to (H, W)).

    Returns:
        (H, W) refined labels and (K, H, W) refined scores.
    """
    num_classes, height, width = probs.shape
    down_h, down_w = height // 2, width // 2
    labels_down = F.interpolate(labels[None, None].float(), size=(down_h, down_w),
                                mode='nearest')[0, 0].long()
    probs_down = F.interpolate(probs[None].float(), size=(down_h, down_w), mode='bilinear',
                               align_corners=False)[0]
    candidates = range(num_classes)
    if coarse_threshold > 0:
        labels_down = labels_down.masked_fill(probs_down.max(dim=0).values < coarse_threshold,
                                              num_classes)
    in_frame = replace(state, original_size=state.input_size)
    box_scale = torch.tensor(_preprocess_shape(down_h, down_w, sam.image_size),
                             dtype=torch.float32) / torch.tensor([down_h, down_w])
    prompt_h, prompt_w = _preprocess_shape(height, width, sam.mask_input_size[0])
    kept_logits, kept_classes, failed = [], [], []
    for cls in candidates:
        if float(probs_down[cls].max()) < coarse_threshold:
            continue
        ids, areas, boxes = connected_components((labels_down == cls).cpu().numpy())
        regions = [index for index in range(len(areas)) if areas[index] >= min_area]
        if not regions:
            continue
        masks = torch.from_numpy(np.stack([ids == index + 1 for index in regions]))
        score = probs_down[cls].cpu()
        flat = (score[None] * masks).flatten(1).argmax(dim=1)
        points = torch.stack([flat % down_w, flat // down_w], dim=1).float()
        box = torch.from_numpy(boxes[regions]).float()
        scale_xy = box_scale.flip(0)
        prompt = F.interpolate(probs_down[cls][None, None], size=(prompt_h, prompt_w),
                               mode='bilinear', align_corners=False)
        prompt = F.pad(prompt, (0, sam.mask_input_size[1] - prompt_w,
                                0, sam.mask_input_size[0] - prompt_h))
        prompt = torch.where(prompt > coarse_threshold, mask_coefficient * prompt, 0.0)
        low_res, iou = sam._decode(
            in_frame, (points * scale_xy)[:, None], torch.ones(len(regions), 1),
            (box.reshape(-1, 2, 2) * scale_xy).reshape(-1, 4),
            prompt[0], multimask=False)
        valid = (iou[:, 0] > iou_threshold).cpu()
        if not bool(valid.all()):
            failed.append(masks[~valid])
        if bool(valid.any()):
            kept_logits.append(low_res[valid.to(low_res.device)])
            kept_classes += [cls] * int(valid.sum())
    if not kept_logits:
        return labels, probs
    logits = sam.upscale_logits(torch.cat(kept_logits), state)
    if tuple(logits.shape[-2:]) != (height, width):
        logits = F.interpolate(logits, size=(height, width), mode='bilinear',
                               align_corners=False)
    logits = logits[:, 0].to(probs.device)
    classes = torch.tensor(kept_classes, device=probs.device)
    scores = probs.new_zeros((num_classes, height, width))
    for cls in classes.unique().tolist():
        mine = classes == cls
        union = (logits[mine] > sam.mask_threshold).any(dim=0)
        scores[cls] = (logits[mine].sigmoid() * probs[cls]).max(dim=0).values * union
    refined = torch.where(scores.sum(dim=0) == 0, labels, scores.argmax(dim=0))
    if failed:
        regions = torch.cat(failed).float()[None].to(probs.device)
        regions = F.interpolate(regions, size=(height, width), mode='nearest')[0]
        failed_scores = regions.any(dim=0) * probs
        scores = torch.where(failed_scores > scores, failed_scores, scores)
    return refined, scores
