"""Zero-shot class-agnostic counting in three steps (PseCo-style): point, segment, count.

1. **Point**: the dense CLIP class probability of the queried name (softmax over the
   vocabulary and background words) is average-pooled to ``peak_stride`` cells and its
   local maxima with score ``>= peak_threshold`` become point prompts (max-pool NMS), placed
   at ``cell * peak_stride`` -- PseCo's ``PointDecoder`` keeps peaks ``>= 0.05`` and places
   them at ``cell * 4`` on its 256 grid of the 1024 image (the cell's corner, not its centre).
2. **Segment**: SAM is prompted with each point (three multimask outputs), giving
   hierarchical mask proposals with SAM's predicted IoU; each point keeps its best-scoring
   mask (nested part / whole masks of one object would otherwise survive box NMS).
3. **Count**: each mask is classified by the mean class probability inside it (CLIP dense
   features pooled in the mask); ``score = class score x SAM IoU`` with SAM's raw predicted
   IoU (PseCo multiplies its classifier score by it; SAM's IoU head has no sigmoid, so
   values below 0 and above 1 occur and are kept). Proposals pass PseCo's box-area filter
   (``min_box_area`` < area < ``max_box_area_ratio`` x image area, with
   ``torchvision.ops.box_area`` of SAM's inclusive boxes, no +1, as PseCo computes it),
   score > ``score_threshold`` (strictly, as PseCo counts ``scores > thresh``), and box NMS
   (IoU ``nms_iou``); the count is the number left.

Optional exemplar boxes (FSC-147 few-shot; metainfo ``exemplar_bboxes`` (E, 4) xyxy in
working-image pixels, as the counting transforms leave them) add a visual cue: the cosine
similarity of SAM's image features with the mean feature inside the exemplars, mixed into the
score map with weight ``exemplar_weight``.

PseCo's learned parts (its point decoder on SAM features and its CLIP-distilled ROI
classifier) are replaced by these training-free CLIP/SAM steps; see docs/counting.md.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torchvision.ops import box_area, nms

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.counting.mask_scores import boxes_to_masks, pool_in_masks
from ovperception.models.counting.peaks import find_peaks
from ovperception.models.segmentation.similarity import DenseSimilarityHead
from ovperception.models.refiners.mask_ops import masks_to_boxes
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList


@MODELS.register_module()
class ZeroShotCountingHead(DenseSimilarityHead):
    """Count any named class: CLIP heat-map peaks -> SAM masks -> CLIP mask scores -> NMS.

    Args:
        sam: a ``SAMWrapper`` or its config; None counts the peaks themselves (boxes of
            ``point_box_size`` around each point).
        peak_stride: working-resolution pixels per cell of the peak map.
        peak_kernel: odd NMS window of the peak search, in cells.
        peak_threshold: minimum class probability of a peak (kept when equal, as PseCo's
            ``score >= 0.05``, unless ``peak_inclusive=False``).
        max_points: at most this many point prompts per class (the best peaks); a crowd
            larger than that is under-counted (raise it for dense scenes).
        multimask: three SAM masks per point (hierarchical proposals) instead of one.
        point_batch: points sent to SAM at once (bounds memory).
        score_threshold: a counted object's final score must exceed it (strictly, as PseCo;
            PseCo tunes it on val).
        nms_iou: box NMS IoU threshold.
        min_box_area: proposals whose box area (``box_area`` of the inclusive SAM box, as
            PseCo) is at most this are dropped.
        max_box_area_ratio: proposals covering at least this share of the image are dropped.
        point_box_size: box side (original pixels) around a point when there is no SAM.
        exemplar_weight: weight of the exemplar similarity in the score map (0 ignores
            exemplars).
        return_masks: keep the masks of the counted objects in ``pred_instances.masks``.
        clamp_iou: clamp SAM's predicted IoU to [0, 1] before scoring (our earlier rule);
            PseCo uses the raw prediction (False).
        point_offset: a peak in cell ``c`` prompts SAM at ``(c + point_offset) * peak_stride``:
            0 is PseCo's ``cell * 4`` (the cell's corner), 0.5 the cell centre (our earlier
            rule).
        peak_inclusive: keep peaks equal to ``peak_threshold`` (PseCo's ``>=``); False
            needs them strictly above (our earlier rule).
        **kwargs: ``logit_scale`` of :class:`DenseSimilarityHead`.
    """

    def __init__(self, *, sam: nn.Module | dict | None = None, peak_stride: int = 8,
                 peak_kernel: int = 3, peak_threshold: float = 0.3, max_points: int = 1000,
                 multimask: bool = True, point_batch: int = 32, score_threshold: float = 0.3,
                 nms_iou: float = 0.5, min_box_area: float = 10.0,
                 max_box_area_ratio: float = 0.75, point_box_size: float = 8.0,
                 exemplar_weight: float = 0.5, return_masks: bool = True,
                 clamp_iou: bool = False, point_offset: float = 0.0,
                 peak_inclusive: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if peak_stride < 1 or point_batch < 1 or max_points < 1:
            raise ValueError('peak_stride, point_batch and max_points must be positive')
        if not 0.0 <= exemplar_weight <= 1.0:
            raise ValueError(f'exemplar_weight must lie in [0, 1], got {exemplar_weight}')
        if not 0.0 <= point_offset < 1.0:
            raise ValueError(f'point_offset must lie in [0, 1), got {point_offset}')
        self.sam = MODELS.build(sam) if isinstance(sam, dict) else sam
        self.peak_stride, self.peak_kernel = int(peak_stride), int(peak_kernel)
        self.peak_threshold, self.max_points = float(peak_threshold), int(max_points)
        self.multimask, self.point_batch = bool(multimask), int(point_batch)
        self.score_threshold, self.nms_iou = float(score_threshold), float(nms_iou)
        self.min_box_area, self.max_box_area_ratio = float(min_box_area), max_box_area_ratio
        self.point_box_size, self.exemplar_weight = float(point_box_size), exemplar_weight
        self.return_masks = return_masks
        self.clamp_iou, self.point_offset = bool(clamp_iou), float(point_offset)
        self.peak_inclusive = bool(peak_inclusive)

    @property
    def uses_images(self) -> bool:
        """SAM reads the (3, h, w) 0..255 working-resolution image."""
        return True

    def loss(self, feats: Tensor, text: TextEmbeddings, data_samples: SampleList) -> dict:
        raise RuntimeError('ZeroShotCountingHead is training-free: evaluate it with '
                           'tools/test.py')

    # ------------------------------------------------------------------ steps
    def point_proposals(self, score_map: Tensor,
                        ori_shape: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Peaks of a (h, w) score map as (P, 2) xy points in original pixels and scores."""
        height, width = score_map.shape
        coarse = F.avg_pool2d(score_map[None, None], self.peak_stride, ceil_mode=True)[0, 0]
        cells, scores = find_peaks(coarse, self.peak_kernel, self.peak_threshold,
                                   self.max_points, inclusive=self.peak_inclusive)
        centres = (cells + self.point_offset) * self.peak_stride
        centres = torch.minimum(centres, centres.new_tensor([width - 0.5, height - 0.5]))
        scale = centres.new_tensor([ori_shape[1] / width, ori_shape[0] / height])
        return centres * scale, scores

    def mask_proposals(self, state, points: Tensor, score_map: Tensor,
                       ori_shape: tuple[int, int]) -> dict[str, Tensor]:
        """SAM masks of every point, scored, area-filtered and thresholded (before NMS).

        Returns:
            dict of ``bboxes`` (Q, 4), ``scores`` (Q,), ``points`` (Q, 2), ``masks`` (Q, H, W).
        """
        kept: dict[str, list[Tensor]] = dict(bboxes=[], scores=[], points=[], masks=[])
        for start in range(0, len(points), self.point_batch):
            chunk = points[start:start + self.point_batch]
            answer = self.sam.predict(state, points=chunk[:, None].to(self.sam.device),
                                      point_labels=torch.ones(len(chunk), 1,
                                                              device=self.sam.device),
                                      multimask=self.multimask)
            num_masks = answer.masks.shape[1]
            masks = answer.masks.flatten(0, 1).to(score_map.device)
            ious = answer.iou_scores.reshape(-1, num_masks).to(score_map.device)
            class_scores = pool_in_masks(masks, score_map[None])[:, 0].view(-1, num_masks)
            boxes = masks_to_boxes(masks).view(-1, num_masks, 4)
            best, boxes, scores, keep = self.score_proposals(class_scores, ious, boxes,
                                                             ori_shape)
            masks = masks[best + torch.arange(len(chunk), device=best.device) * num_masks]
            keep &= masks.flatten(1).any(1)
            kept['bboxes'].append(boxes[keep])
            kept['scores'].append(scores[keep])
            kept['points'].append(chunk.to(scores.device)[keep])
            kept['masks'].append(masks[keep])
        return {key: torch.cat(values) if values else torch.zeros(0) for key, values in
                kept.items()}

    def score_proposals(self, class_scores: Tensor, ious: Tensor, boxes: Tensor,
                        size: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """PseCo's ROI scoring (``fsc147/4_1_train_roi_head.py``) of P points with M masks.

        ``score = class score x SAM IoU`` (raw, or clamped to [0, 1] with ``clamp_iou``);
        each point keeps its best mask (first on ties, ``argmax``); its box, clamped to the
        image, must pass the area filter and its score the threshold.

        Args:
            class_scores: (P, M) class probability of every mask.
            ious: (P, M) SAM's predicted IoUs.
            boxes: (P, M, 4) xyxy boxes of the masks (SAM's inclusive boxes).
            size: (H, W) of the image the boxes are in.

        Returns:
            ``(best (P,) mask index, its box (P, 4) clamped to the image, scores (P,),
            keep (P,) bool)``.
        """
        height, width = size
        if self.clamp_iou:
            ious = ious.clamp(0, 1)
        scores = class_scores * ious.to(class_scores.dtype)
        best = scores.argmax(1)
        rows = torch.arange(len(scores), device=scores.device)
        chosen = boxes[rows, best].float()
        chosen = torch.stack([chosen[:, 0].clamp(0, width), chosen[:, 1].clamp(0, height),
                              chosen[:, 2].clamp(0, width), chosen[:, 3].clamp(0, height)], 1)
        areas = box_area(chosen)  # PseCo: torchvision's box_area on SAM's boxes, no +1
        scores = scores[rows, best]
        keep = ((scores > self.score_threshold) & (areas > self.min_box_area)
                & (areas < self.max_box_area_ratio * height * width))
        return best, chosen, scores, keep

    def exemplar_similarity(self, state, exemplars: Tensor, size: tuple[int, int]) -> Tensor:
        """(h, w) cosine similarity of SAM features with the mean exemplar feature, >= 0."""
        feats = F.normalize(self.sam.image_features(state).float(), dim=0)  # (C, h', w')
        grid = feats.shape[-2:]
        ori_h, ori_w = state.original_size
        scale = exemplars.new_tensor([grid[1] / ori_w, grid[0] / ori_h] * 2)
        boxes = exemplars.float().to(feats.device) * scale
        inside = boxes_to_masks(boxes, grid)
        centre = ((boxes[:, :2] + boxes[:, 2:]) / 2).long()
        inside[torch.arange(len(boxes)), centre[:, 1].clamp(0, grid[0] - 1),
               centre[:, 0].clamp(0, grid[1] - 1)] = True  # tiny boxes keep one cell
        prototype = F.normalize(pool_in_masks(inside, feats).mean(0), dim=0)
        similarity = torch.einsum('chw,c->hw', feats, prototype).clamp_min(0)
        return F.interpolate(similarity[None, None], size=size, mode='bilinear',
                             align_corners=False)[0, 0]

    def count_class(self, score_map: Tensor, state, ori_shape: tuple[int, int]) -> dict:
        """Detections of one class from its (h, w) score map, after NMS."""
        points, peak_scores = self.point_proposals(score_map, ori_shape)
        if state is None or len(points) == 0:
            half = self.point_box_size / 2
            limit = points.new_tensor([ori_shape[1], ori_shape[0]] * 2)
            boxes = torch.minimum(torch.cat([points - half, points + half], 1).clamp_min(0),
                                  limit)
            found = dict(bboxes=boxes, scores=peak_scores, points=points)
        else:
            found = self.mask_proposals(state, points, score_map, ori_shape)
        return self.suppress(found)

    def suppress(self, found: dict[str, Tensor]) -> dict[str, Tensor]:
        """Box NMS (IoU ``nms_iou``) of the proposals in ``found`` (``bboxes`` (Q, 4),
        ``scores`` (Q,) and any other per-proposal entries), best score first."""
        if not len(found['scores']):
            return found
        keep = nms(found['bboxes'].float(), found['scores'].float(), self.nms_iou)
        return {key: value[keep] for key, value in found.items()}

    # --------------------------------------------------------------- predict
    def predict(self, outputs: list[Tensor], text: TextEmbeddings, data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Detections and counts per class of each sample's vocabulary.

        Sets ``pred_instances`` (``bboxes`` (N, 4) xyxy, ``scores``, ``labels``, ``points``
        (N, 2) xy, all in original pixels, and ``masks`` (N, H, W) bool with SAM and
        ``return_masks``), ``pred_count`` (K,) and ``label_names``.
        """
        if self.sam is not None and (images is None or len(images) != len(outputs)):
            raise ValueError('ZeroShotCountingHead with SAM needs one image per output')
        for index, (cosine, sample) in enumerate(zip(outputs, data_samples)):
            ori_shape = tuple(int(v) for v in sample.metainfo.get('ori_shape',
                                                                  cosine.shape[-2:])[:2])
            probs = self.class_probabilities(cosine.float(), text)
            state = (self.sam.set_image(images[index], original_size=ori_shape)
                     if self.sam is not None else None)
            exemplar_map = None
            exemplars = sample.metainfo.get('exemplar_bboxes')
            if state is not None and self.exemplar_weight > 0 and exemplars is not None \
                    and len(exemplars):
                # exemplar boxes follow the image through the transforms: working pixels
                height, width = cosine.shape[-2:]
                to_original = torch.tensor([ori_shape[1] / width, ori_shape[0] / height] * 2)
                exemplar_map = self.exemplar_similarity(
                    state, torch.as_tensor(exemplars).float().reshape(-1, 4) * to_original,
                    (height, width))
            per_class = []
            for label in range(text.num_classes):
                score_map = probs[label]
                if exemplar_map is not None:
                    score_map = ((1 - self.exemplar_weight) * score_map
                                 + self.exemplar_weight * exemplar_map)
                per_class.append(self.count_class(score_map, state, ori_shape))
            sample.pred_instances = self._instances(per_class, ori_shape)
            sample.pred_count = torch.tensor([float(len(f['scores'])) for f in per_class])
            sample.set_metainfo(dict(label_names=text.class_names))
        return list(data_samples)

    def _instances(self, per_class: list[dict], ori_shape: tuple[int, int]) -> InstanceData:
        """Concatenate the detections of every class into one ``InstanceData``."""
        instances = InstanceData()
        instances.bboxes = torch.cat([f['bboxes'].reshape(-1, 4).float() for f in per_class])
        instances.scores = torch.cat([f['scores'].reshape(-1).float() for f in per_class])
        instances.labels = torch.cat([torch.full((len(f['scores']),), k, dtype=torch.long)
                                      for k, f in enumerate(per_class)])
        instances.points = torch.cat([f['points'].reshape(-1, 2).float() for f in per_class])
        if self.sam is not None and self.return_masks:
            no_masks = torch.zeros((0, *ori_shape), dtype=torch.bool)
            instances.masks = torch.cat([f['masks'].reshape(-1, *ori_shape).bool()
                                         if 'masks' in f else no_masks for f in per_class])
        return instances
