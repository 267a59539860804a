"""Class-agnostic proposal sources for open-vocabulary detection.

A proposal source turns what the detection head knows about one image into
boxes (and optionally masks) that the head then classifies against the
vocabulary. Three sources:

* :class:`ConnectedComponentProposals` (training-free): connected regions of the
  dense open-vocabulary segmentation (per class, and of the whole foreground).
* :class:`LearnedProposals` (trainable, FCOS-style): objectness + centerness +
  box distances predicted at every feature location by a light conv head on the
  frozen dense CLIP features; trained on boxes with focal / GIoU / BCE losses.
* :class:`SAMProposals` (training-free): SAM's automatic masks, through the SAM
  wrapper (``ovperception.models.refiners.sam.SAMWrapper``, imported lazily).

Coordinates: the head works on an *analysis grid* of ``stride`` pixels per cell
over the working image (H, W); boxes are xyxy in working-image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, generalized_box_iou_loss, sigmoid_focal_loss

from ovperception.models.refiners.mask_ops import connected_components
from ovperception.registry import MODELS


@dataclass
class ProposalInputs:
    """What a proposal source may read for one image.

    Attributes:
        features: (C, h, w) L2-normalised dense features on the analysis grid.
        stride: working-image pixels per analysis cell.
        image_size: working image (H, W).
        class_probs: (K, h, w) per-class probabilities of the dense segmentation.
        background_prob: (h, w) background probability.
        extra: (E, h, w) the source's own dense outputs (see ``dense_channels``).
        image: (3, H, W) RGB 0..255 working image (sources with ``needs_image``).
    """

    features: Tensor
    stride: float
    image_size: tuple[int, int]
    class_probs: Tensor | None = None
    background_prob: Tensor | None = None
    extra: Tensor | None = None
    image: Tensor | None = None


@dataclass
class Proposals:
    """Class-agnostic proposals of one image.

    Attributes:
        boxes: (M, 4) xyxy in working-image pixels.
        scores: (M,) objectness in [0, 1].
        masks: optional (M, h', w') bool masks covering the working image (any grid).
    """

    boxes: Tensor
    scores: Tensor
    masks: Tensor | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, index: Tensor) -> Proposals:
        return Proposals(self.boxes[index], self.scores[index],
                         None if self.masks is None else self.masks[index])

    @staticmethod
    def empty(device: torch.device | str = 'cpu', mask_size: tuple[int, int] | None = None
              ) -> Proposals:
        masks = None if mask_size is None else torch.zeros((0, *mask_size), dtype=torch.bool,
                                                          device=device)
        return Proposals(torch.zeros((0, 4), device=device), torch.zeros(0, device=device), masks)


def valid_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """(M,) bool: finite boxes whose width and height are at least ``min_size``."""
    sizes = boxes[:, 2:] - boxes[:, :2]
    return torch.isfinite(boxes).all(dim=1) & (sizes >= min_size).all(dim=1)


class ProposalSource(nn.Module):
    """Interface of a proposal source (training-free unless it overrides :meth:`loss`).

    Attributes:
        dense_channels: channels the source adds to the head's dense output (computed
            per sliding window by :meth:`dense`, stitched, then given back as ``extra``).
        needs_image: whether :meth:`propose` reads the RGB image.
        needs_segmentation: whether :meth:`propose` reads ``class_probs``.
    """

    dense_channels: int = 0
    needs_image: bool = False
    needs_segmentation: bool = False

    def dense(self, feats: Tensor) -> Tensor:
        """(B, C, h, w) raw dense features -> (B, dense_channels, h, w)."""
        return feats.new_zeros((feats.shape[0], 0, *feats.shape[-2:]))

    def propose(self, inputs: ProposalInputs) -> Proposals:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, feats: Tensor, gt_boxes: Sequence[Tensor], stride: float) -> dict[str, Tensor]:
        raise RuntimeError(f'{type(self).__name__} is training-free: it has no loss')


@MODELS.register_module()
class ConnectedComponentProposals(ProposalSource):
    """Connected regions of the dense open-vocabulary segmentation.

    Each analysis cell takes its most probable class, or background when the
    background wins or the best class probability is below ``prob_threshold``. Every
    8-connected region of one class (and, with ``include_foreground``, of the whole
    foreground, which joins touching objects of different classes) becomes a
    proposal with its mask; its score is the mean best-class probability inside.

    Args:
        prob_threshold: cells whose best class probability is below it are background.
        min_area: smallest region, in analysis cells.
        include_foreground: also propose the regions of the class-agnostic foreground.
        max_proposals: keep the highest-scoring ones.
    """

    needs_segmentation = True

    def __init__(self, prob_threshold: float = 0.0, min_area: int = 2,
                 include_foreground: bool = True, max_proposals: int = 300) -> None:
        super().__init__()
        if not 0.0 <= prob_threshold <= 1.0:
            raise ValueError(f'prob_threshold must lie in [0, 1], got {prob_threshold}')
        self.prob_threshold = prob_threshold
        self.min_area = max(1, int(min_area))
        self.include_foreground = include_foreground
        self.max_proposals = max_proposals

    def label_map(self, class_probs: Tensor,
                  background_prob: Tensor | None) -> tuple[Tensor, Tensor]:
        """(K, h, w) probabilities -> ((h, w) labels with -1 = background, (h, w) best prob)."""
        best, labels = class_probs.max(dim=0)
        background = best < self.prob_threshold
        if background_prob is not None:
            background |= background_prob >= best
        return labels.masked_fill(background, -1), best

    def _regions(self, binary: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(cell box xyxy exclusive, mask) of every 8-connected region of ``binary``."""
        ids, areas, boxes = connected_components(binary)  # inclusive boxes, ids from 1
        return [(np.array([x1, y1, x2 + 1, y2 + 1], np.float32), ids == index + 1)
                for index, ((x1, y1, x2, y2), area) in enumerate(zip(boxes, areas))
                if area >= self.min_area]

    def propose(self, inputs: ProposalInputs) -> Proposals:
        if inputs.class_probs is None:
            raise ValueError('ConnectedComponentProposals needs the dense class probabilities')
        device = inputs.features.device
        labels, best = self.label_map(inputs.class_probs.float(), inputs.background_prob)
        labels_np, best_np = labels.cpu().numpy(), best.cpu().numpy()
        binaries = [labels_np == k for k in np.unique(labels_np) if k >= 0]
        if self.include_foreground and len(binaries) > 1:
            binaries.append(labels_np >= 0)
        boxes, masks, scores, seen = [], [], [], set()
        for binary in binaries:
            for box, mask in self._regions(binary):
                key = (tuple(box.tolist()), int(mask.sum()))
                if key in seen:  # the same region found as a class and as foreground
                    continue
                seen.add(key)
                boxes.append(box)
                masks.append(mask)
                scores.append(float(best_np[mask].mean()))
        if not boxes:
            return Proposals.empty(device, tuple(labels.shape))
        height, width = inputs.image_size
        cell_boxes = torch.as_tensor(np.stack(boxes), device=device)
        pixel_boxes = cell_boxes * inputs.stride
        pixel_boxes[:, 0::2] = pixel_boxes[:, 0::2].clamp(0, width)
        pixel_boxes[:, 1::2] = pixel_boxes[:, 1::2].clamp(0, height)
        proposals = Proposals(pixel_boxes, torch.tensor(scores, device=device),
                              torch.as_tensor(np.stack(masks), device=device))
        top = torch.argsort(proposals.scores, descending=True, stable=True)[:self.max_proposals]
        return proposals.select(top)


def location_centers(height: int, width: int, stride: float, device: torch.device | str
                     ) -> Tensor:
    """(h * w, 2) xy pixel centres of an (h, w) grid of ``stride``-pixel cells, row-major."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)


def fcos_targets(centers: Tensor, gt_boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Assign each location to the smallest ground-truth box containing its centre.

    Every box that contains no centre gets the location nearest to its own centre
    (so small objects still train), unless that location already has a box.

    Args:
        centers: (P, 2) xy location centres.
        gt_boxes: (N, 4) xyxy boxes.

    Returns:
        ``(assigned (P,) long: box index or -1, distances (P, 4) l, t, r, b to it)``.
    """
    num = len(centers)
    if len(gt_boxes) == 0:
        return (torch.full((num,), -1, dtype=torch.long, device=centers.device),
                centers.new_zeros((num, 4)))
    x, y = centers[:, :1], centers[:, 1:]
    dist = torch.stack([x - gt_boxes[None, :, 0], y - gt_boxes[None, :, 1],
                        gt_boxes[None, :, 2] - x, gt_boxes[None, :, 3] - y], dim=-1)  # (P, N, 4)
    inside = dist.min(dim=-1).values > 0
    areas = ((gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1]))
    cost = torch.where(inside, areas[None].expand_as(inside),
                       torch.full_like(dist[..., 0], float('inf')))
    best_cost, assigned = cost.min(dim=1)
    assigned = torch.where(torch.isfinite(best_cost), assigned, torch.full_like(assigned, -1))
    box_centers = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
    for box_index in range(len(gt_boxes)):
        if not bool((assigned == box_index).any()):
            nearest = int(((centers - box_centers[box_index]) ** 2).sum(dim=1).argmin())
            if int(assigned[nearest]) < 0:
                assigned[nearest] = box_index
    safe = assigned.clamp(min=0)
    distances = dist[torch.arange(num, device=centers.device), safe]
    return assigned, distances


def centerness(distances: Tensor) -> Tensor:
    """FCOS centerness ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` of (P, 4)."""
    left_right, top_bottom = distances[:, 0::2], distances[:, 1::2]
    ratio = (left_right.min(dim=1).values / left_right.max(dim=1).values.clamp(min=1e-6)) * \
        (top_bottom.min(dim=1).values / top_bottom.max(dim=1).values.clamp(min=1e-6))
    return ratio.clamp(min=0).sqrt()


@MODELS.register_module()
class LearnedProposals(ProposalSource):
    """A light trainable FCOS-style proposal head on the frozen dense CLIP features.

    Per feature location: an objectness logit, four log box distances
    ``log(d / distance_scale)`` (left, top, right, bottom) and a centerness logit,
    from ``conv3x3 -> GELU -> conv3x3 -> GELU -> conv1x1``. Losses (FCOS): sigmoid
    focal loss on objectness, GIoU on the boxes of positive locations and BCE on
    their centerness. Proposal score: ``sqrt(sigmoid(obj) * sigmoid(ctr))``.

    Args:
        in_channels: dense feature dimension C.
        hidden_channels: width of the conv tower.
        distance_scale: pixels of a unit log distance (about the feature stride).
        score_threshold: locations below it are not proposed.
        pre_nms_top_k: locations kept before NMS.
        nms_iou: IoU of the class-agnostic NMS.
        max_proposals: proposals kept after NMS.
    """

    dense_channels = 6

    def __init__(self, in_channels: int, hidden_channels: int = 64, *,
                 distance_scale: float = 16.0, score_threshold: float = 0.05,
                 pre_nms_top_k: int = 1000, nms_iou: float = 0.6,
                 max_proposals: int = 300) -> None:
        super().__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 3, padding=1), nn.GELU(),
            nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1), nn.GELU(),
            nn.Conv2d(hidden_channels, self.dense_channels, 1))
        with torch.no_grad():  # objectness prior 0.01 (focal-loss initialisation)
            self.tower[-1].bias.zero_()
            self.tower[-1].bias[0] = -4.6
        self.distance_scale = float(distance_scale)
        self.score_threshold = score_threshold
        self.pre_nms_top_k = pre_nms_top_k
        self.nms_iou = nms_iou
        self.max_proposals = max_proposals

    def dense(self, feats: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, 6, h, w): objectness, 4 log distances, centerness (logits)."""
        return self.tower(F.normalize(feats, dim=1))

    def decode(self, outputs: Tensor, stride: float) -> tuple[Tensor, Tensor]:
        """(6, h, w) outputs -> ((h*w, 4) xyxy boxes, (h*w,) scores)."""
        height, width = outputs.shape[-2:]
        flat = outputs.flatten(1).T  # (P, 6)
        centers = location_centers(height, width, stride, outputs.device)
        distances = flat[:, 1:5].clamp(max=10.0).exp() * self.distance_scale
        boxes = torch.cat([centers - distances[:, :2], centers + distances[:, 2:]], dim=1)
        scores = (torch.sigmoid(flat[:, 0]) * torch.sigmoid(flat[:, 5])).sqrt()
        return boxes, scores

    def propose(self, inputs: ProposalInputs) -> Proposals:
        if inputs.extra is None or inputs.extra.shape[0] != self.dense_channels:
            raise ValueError('LearnedProposals needs its 6 dense output channels')
        boxes, scores = self.decode(inputs.extra.float(), inputs.stride)
        height, width = inputs.image_size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        keep = (scores >= self.score_threshold) & valid_boxes(boxes, 1.0)
        boxes, scores = boxes[keep], scores[keep]
        top = torch.topk(scores, k=min(self.pre_nms_top_k, len(scores))).indices
        boxes, scores = boxes[top], scores[top]
        keep = batched_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long),
                           self.nms_iou)[:self.max_proposals]
        return Proposals(boxes[keep], scores[keep])

    def loss(self, feats: Tensor, gt_boxes: Sequence[Tensor], stride: float) -> dict[str, Tensor]:
        """FCOS losses on a batch.

        Args:
            feats: (B, C, h, w) dense features of the training images.
            gt_boxes: per image, (N_i, 4) xyxy boxes in input pixels.
            stride: input pixels per feature cell.
        """
        outputs = self.dense(feats)
        height, width = outputs.shape[-2:]
        centers = location_centers(height, width, stride, feats.device)
        obj_logits, obj_targets, boxes_pred, boxes_gt, ctr_logits, ctr_targets = \
            [], [], [], [], [], []
        for output, boxes in zip(outputs, gt_boxes):
            flat = output.flatten(1).T
            assigned, distances = fcos_targets(centers, boxes.to(feats.device).float())
            positive = assigned >= 0
            obj_logits.append(flat[:, 0])
            obj_targets.append(positive.float())
            pred_dist = flat[positive, 1:5].clamp(max=10.0).exp() * self.distance_scale
            pos_centers = centers[positive]
            boxes_pred.append(torch.cat([pos_centers - pred_dist[:, :2],
                                         pos_centers + pred_dist[:, 2:]], dim=1))
            boxes_gt.append(boxes.to(feats.device).float()[assigned[positive]])
            ctr_logits.append(flat[positive, 5])
            ctr_targets.append(centerness(distances[positive]))
        num_pos = max(1.0, float(sum(len(b) for b in boxes_gt)))
        loss_obj = sigmoid_focal_loss(torch.cat(obj_logits), torch.cat(obj_targets),
                                      reduction='sum') / num_pos
        pred, target = torch.cat(boxes_pred), torch.cat(boxes_gt)
        zero = outputs.sum() * 0.0
        loss_box = generalized_box_iou_loss(pred, target, reduction='sum') / num_pos \
            if len(pred) else zero
        loss_ctr = F.binary_cross_entropy_with_logits(
            torch.cat(ctr_logits), torch.cat(ctr_targets), reduction='sum') / num_pos \
            if len(pred) else zero
        return dict(loss_obj=loss_obj, loss_box=loss_box, loss_ctr=loss_ctr)


@MODELS.register_module()
class SAMProposals(ProposalSource):
    """SAM automatic masks as proposals (through ``SAMWrapper``, imported lazily).

    Args:
        sam: a ``SAMWrapper`` config (``type``, ``model_type``, ``checkpoint`` ...) or module.
        points_per_side, points_per_batch, pred_iou_thresh, stability_score_thresh,
        box_nms_thresh, min_area: options of ``SAMWrapper.automatic_masks``.
        max_proposals: keep the masks with the highest predicted IoU.
    """

    needs_image = True

    def __init__(self, sam: dict | nn.Module, *, points_per_side: int = 16,
                 points_per_batch: int = 64, pred_iou_thresh: float = 0.8,
                 stability_score_thresh: float = 0.85, box_nms_thresh: float = 0.7,
                 min_area: int = 16, max_proposals: int = 300) -> None:
        super().__init__()
        if isinstance(sam, dict):
            from ovperception.models.refiners.sam import SAMWrapper
            sam = MODELS.build(sam) if 'type' in sam else SAMWrapper(**sam)
        self.sam = sam
        self.mask_options: dict[str, Any] = dict(
            points_per_side=points_per_side, points_per_batch=points_per_batch,
            pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_score_thresh,
            box_nms_thresh=box_nms_thresh, min_area=min_area)
        self.max_proposals = max_proposals

    def propose(self, inputs: ProposalInputs) -> Proposals:
        if inputs.image is None:
            raise ValueError('SAMProposals needs the RGB image')
        state = self.sam.set_image(inputs.image.detach().float().clamp(0, 255))
        records = self.sam.automatic_masks(state, **self.mask_options)
        device = inputs.features.device
        if not records:
            return Proposals.empty(device, tuple(inputs.image.shape[-2:]))
        records = sorted(records, key=lambda r: -float(r['predicted_iou']))[:self.max_proposals]
        boxes = torch.tensor(np.array([r['bbox'] for r in records], dtype=np.float32),
                             device=device).reshape(-1, 4)
        boxes[:, 2:] += 1.0  # SAM boxes end on the last mask pixel; ours end after it
        scores = torch.tensor([float(r['predicted_iou']) for r in records],
                              device=device).clamp(0, 1)
        masks = torch.as_tensor(np.stack([np.asarray(r['segmentation'], dtype=bool)
                                          for r in records]), device=device)
        return Proposals(boxes, scores, masks)


__all__ = ['ProposalInputs', 'Proposals', 'ProposalSource', 'ConnectedComponentProposals',
           'LearnedProposals', 'SAMProposals', 'fcos_targets', 'centerness',
           'location_centers', 'valid_boxes']
