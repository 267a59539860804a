"""Open-vocabulary detection head: proposals classified by pooled dense CLIP features.

Pipeline for one image (working resolution H x W, analysis grid of ``analysis_stride``
pixels per cell):

1. ``forward`` (per sliding window): L2-normalised dense features, plus the proposal
   source's own dense outputs (e.g. FCOS objectness / boxes); ``OVModel`` stitches them
   lazily (the head takes :class:`~ovperception.models.stitched.StitchedWindows`).
2. ``predict``: average-pool the stitched map to the analysis grid (exactly, straight
   from the window outputs: the full-resolution (C + E, H, W) map is never built); image descriptor = normalised mean
   feature; background embeddings per image (BIRDet BIM, see ``background_mode``);
   dense class / background probabilities (the dense segmentation) when the proposal
   source needs them.
3. Class-agnostic proposals from the source (connected components, a learned head or SAM).
4. Region embedding per proposal: mask pooling (mean feature inside the mask) when the
   proposal has a mask, otherwise RoI-align (``roi_size`` bins) averaged; optionally
   blended with a CLIP re-encoding of the box crop (``crop_weight``).
5. Scores ``p = softmax(scale * [cos(r, names), cos(r, background)])`` (max over
   synonyms), optionally ``p^(1 - a) * objectness^a``; each proposal yields its
   ``top_k_classes`` best classes above ``score_threshold``; per-class NMS
   (``torchvision.ops.batched_nms``), then Partial Object Suppression, then the
   ``max_per_img`` best; boxes (and masks) scaled to ``ori_shape``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torchvision.ops import batched_nms, roi_align

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.detection.birdet import (BACKGROUND_MODES, POS_MODES,
                                                  background_embeddings, classify_embeddings,
                                                  image_descriptor, partial_object_suppression)
from ovperception.models.detection.proposals import (ProposalInputs, Proposals, ProposalSource,
                                                     valid_boxes)
from ovperception.models.base_head import BaseOVHead
from ovperception.models.stitched import DenseOutput, StitchedWindows
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

CropEncoder = Callable[[Tensor], Tensor]
POOLING_MODES = ('auto', 'mask', 'roi')


def mask_pool(features: Tensor, masks: Tensor, stride: int = 1) -> Tensor:
    """Mean feature inside each mask.

    Args:
        features: (C, h, w) on a grid of ``stride``-pixel cells.
        masks: (M, h, w) bool on the same grid, or (M, H, W) pixel masks (padded to
            ``(h * stride, w * stride)`` and area-averaged onto the grid).

    Returns:
        (M, C) weighted mean features; a mask that is empty gets zeros.
    """
    grid = features.shape[-2:]
    if masks.shape[-2:] != grid:
        padded = F.pad(masks.float(), (0, grid[1] * stride - masks.shape[-1],
                                       0, grid[0] * stride - masks.shape[-2]))
        weights = F.avg_pool2d(padded[:, None], stride, stride)[:, 0]
    else:
        weights = masks.float()
    weights = weights.flatten(1)
    sums = weights @ features.flatten(1).T
    return sums / weights.sum(dim=1, keepdim=True).clamp(min=1e-6)


def masks_to_image(masks: Tensor, work_size: tuple[int, int], out_size: tuple[int, int],
                   stride: int) -> Tensor:
    """(M, h, w) grid masks or (M, H, W) pixel masks -> (M, *out_size) bool (nearest)."""
    masks = masks.to(torch.uint8)[:, None]
    if masks.shape[-2:] != tuple(work_size):  # analysis grid: cells of stride pixels
        masks = masks.repeat_interleave(stride, dim=2).repeat_interleave(stride, dim=3)
        masks = masks[..., :work_size[0], :work_size[1]]
    if masks.shape[-2:] != tuple(out_size):
        masks = F.interpolate(masks, size=tuple(out_size), mode='nearest')
    return masks[:, 0].bool()


def roi_pool_mean(features: Tensor, boxes: Tensor, stride: float, roi_size: int) -> Tensor:
    """(C, h, w) features, (M, 4) xyxy pixel boxes -> (M, C) RoI-aligned mean features."""
    pooled = roi_align(features[None], [boxes.to(features.dtype)], output_size=roi_size,
                       spatial_scale=1.0 / stride, sampling_ratio=2, aligned=True)
    return pooled.mean(dim=(2, 3))


@MODELS.register_module()
class OVDetectionHead(BaseOVHead):
    """Open-vocabulary detection from dense CLIP features (training-free or light-trained).

    Args:
        proposals: a proposal source (config or module): ``ConnectedComponentProposals``
            (default), ``LearnedProposals`` or ``SAMProposals``.
        logit_scale: softmax temperature; None uses the backbone's CLIP logit scale.
        background_mode: ``'image'`` (BIRDet: top-K background words per image),
            ``'fixed'`` (one vector: the mean of the background words) or ``'none'``.
            The background words are the model's ``background_words``.
        background_top_k: K of ``'image'``.
        analysis_stride: pixels per cell of the grid proposals and pooling work on.
        pooling: ``'auto'`` (mask pooling when proposals have masks, else RoI-align),
            ``'mask'`` or ``'roi'``.
        roi_size: RoI-align output bins.
        score_threshold: detections below it are dropped.
        top_k_classes: classes kept per proposal.
        nms_iou: IoU threshold of the per-class NMS.
        pos_threshold: Partial Object Suppression ratio (> 1 disables POS).
        pos_mode: ``'candidate'`` (intersection / candidate area) or ``'min'``.
        max_per_img: detections kept per image.
        objectness_weight: ``a`` of ``p^(1 - a) * objectness^a``.
        crop_weight: ``w`` of ``p_dense^(1 - w) * p_crop^w``, where ``p_crop`` classifies
            a CLIP re-encoding of each box crop (0 disables; needs the model's backbone).
        crop_size: side of the re-encoded crops; crop_context: box enlargement factor.
        with_masks: output the proposals' masks when they have any.
    """

    takes_stitched_windows = True  # predict() pools lazy StitchedWindows onto the grid

    def __init__(self, *, proposals: dict | nn.Module | None = None,
                 logit_scale: float | None = None, background_mode: str = 'image',
                 background_top_k: int = 3, analysis_stride: int = 4, pooling: str = 'auto',
                 roi_size: int = 7, score_threshold: float = 0.05, top_k_classes: int = 3,
                 nms_iou: float = 0.5, pos_threshold: float = 0.8, pos_mode: str = 'candidate',
                 max_per_img: int = 100, objectness_weight: float = 0.0,
                 crop_weight: float = 0.0, crop_size: int = 224, crop_context: float = 1.2,
                 with_masks: bool = True) -> None:
        super().__init__()
        if background_mode not in BACKGROUND_MODES:
            raise ValueError(f'background_mode must be one of {BACKGROUND_MODES}, '
                             f'got {background_mode!r}')
        if pooling not in POOLING_MODES:
            raise ValueError(f'pooling must be one of {POOLING_MODES}, got {pooling!r}')
        if pos_mode not in POS_MODES:
            raise ValueError(f'pos_mode must be one of {POS_MODES}, got {pos_mode!r}')
        for name, value in (('objectness_weight', objectness_weight),
                            ('crop_weight', crop_weight)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must lie in [0, 1], got {value}')
        if analysis_stride < 1 or roi_size < 1 or max_per_img < 1 or top_k_classes < 1:
            raise ValueError('analysis_stride, roi_size, max_per_img and top_k_classes must be '
                             'positive')
        source = proposals if proposals is not None else dict(type='ConnectedComponentProposals')
        self.proposals: ProposalSource = (MODELS.build(source) if isinstance(source, dict)
                                          else source)
        self.logit_scale = logit_scale
        self.background_mode = background_mode
        self.background_top_k = background_top_k
        self.analysis_stride = int(analysis_stride)
        self.pooling = pooling
        self.roi_size = roi_size
        self.score_threshold = score_threshold
        self.top_k_classes = top_k_classes
        self.nms_iou = nms_iou
        self.pos_threshold = pos_threshold
        self.pos_mode = pos_mode
        self.max_per_img = max_per_img
        self.objectness_weight = objectness_weight
        self.crop_weight = crop_weight
        self.crop_size = crop_size
        self.crop_context = crop_context
        self.with_masks = with_masks
        self._crop_encoder: CropEncoder | None = None

    # ------------------------------------------------------------------ wiring
    @property
    def uses_images(self) -> bool:
        """Whether ``predict`` needs the (3, H, W) 0..255 RGB working images."""
        return self.proposals.needs_image or self.crop_weight > 0

    def bind_image_encoder(self, encoder: CropEncoder) -> None:
        """Give the head ``(n, 3, S, S) RGB 0..255 crops -> (n, C) normalised embeddings``."""
        self._crop_encoder = encoder

    def scale(self, text: TextEmbeddings) -> float:
        return float(self.logit_scale if self.logit_scale is not None else text.logit_scale)

    # ------------------------------------------------------------------ dense
    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, C, h, w) features -> (B, C + E, h, w): normalised features + source outputs."""
        return torch.cat([F.normalize(feats, dim=1), self.proposals.dense(feats)], dim=1)

    def loss(self, feats: Tensor, text: TextEmbeddings,
             data_samples: SampleList) -> dict[str, Tensor]:
        """Losses of a trainable proposal source on ``gt_instances`` (ignored boxes dropped).

        Ground-truth boxes are in ``ori_shape`` pixels and are scaled to the input.
        """
        gt_boxes = []
        for sample in data_samples:
            instances = sample.gt_instances
            boxes = instances.bboxes.float()
            if 'ignore_flags' in instances:
                boxes = boxes[~instances.ignore_flags.bool()]
            ori_h, ori_w = sample.metainfo.get('ori_shape', sample.metainfo['img_shape'])[:2]
            img_h, img_w = sample.metainfo['img_shape'][:2]
            gt_boxes.append(boxes * boxes.new_tensor([img_w / ori_w, img_h / ori_h] * 2))
        pad_h = data_samples[0].metainfo.get('pad_shape', data_samples[0].metainfo['img_shape'])[0]
        return self.proposals.loss(feats, gt_boxes, stride=pad_h / feats.shape[-2])

    # ---------------------------------------------------------------- predict
    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings, data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """``pred_instances`` (bboxes xyxy at ``ori_shape``, scores, labels[, masks]).

        Args:
            outputs: per sample, the stitched (C + E, H, W) output of :meth:`forward`:
                a tensor or lazy :class:`StitchedWindows` (never materialised here).
            images: per sample, its (3, H, W) RGB 0..255 working image (``uses_images``).
        """
        if self.uses_images and (images is None or len(images) != len(outputs)):
            raise ValueError(f'{type(self).__name__} with {type(self.proposals).__name__} / '
                             'crop re-encoding needs one image per output')
        for index, (output, sample) in enumerate(zip(outputs, data_samples)):
            image = images[index] if images is not None else None
            sample.pred_instances = self.detect(output, text, sample, image)
            sample.set_metainfo(dict(label_names=text.class_names))
        return list(data_samples)

    def detect(self, output: DenseOutput, text: TextEmbeddings, sample: OVDataSample,
               image: Tensor | None = None) -> InstanceData:
        """Detections of one image from its stitched (C + E, H, W) output."""
        height, width = output.shape[-2:]
        stride = self.analysis_stride
        pooled = self.analysis_grid(output)
        num_extra = self.proposals.dense_channels
        features = F.normalize(pooled[:pooled.shape[0] - num_extra], dim=0)
        extra = pooled[pooled.shape[0] - num_extra:] if num_extra else None
        background = background_embeddings(text, image_descriptor(features),
                                           self.background_mode, self.background_top_k)
        scale = self.scale(text)
        inputs = ProposalInputs(features, float(stride), (height, width), extra=extra,
                                image=image)
        if self.proposals.needs_segmentation:
            probs, bg_prob = classify_embeddings(features.flatten(1).T, text, background, scale)
            inputs.class_probs = probs.T.reshape(-1, *features.shape[-2:])
            inputs.background_prob = bg_prob.reshape(features.shape[-2:])
        proposals = self.proposals.propose(inputs)
        proposals = proposals.select(valid_boxes(proposals.boxes, 1.0))
        if len(proposals) == 0:
            return self._empty(pooled.device, sample)
        class_probs = self.classify_proposals(features, proposals, text, background, scale, image)
        return self.select_detections(proposals, class_probs, sample, (height, width))

    def analysis_grid(self, output: DenseOutput) -> Tensor:
        """(C + E, ceil(H / s), ceil(W / s)) float32 mean of the output over ``s``-pixel cells.

        ``s`` is ``analysis_stride``; a lazy :class:`StitchedWindows` is pooled straight
        from its window outputs (:meth:`StitchedWindows.avg_pooled`, same values up to
        float rounding), so peak memory is that of the grid, about ``s**2`` times less
        than the (C + E, H, W) map.
        """
        stride = self.analysis_stride
        if isinstance(output, StitchedWindows):
            if output.outputs.dtype != torch.float32:
                output = StitchedWindows(output.outputs.float(), output.windows,
                                         output.image_size, output.feature_stride)
            return output.avg_pooled(stride)
        return F.avg_pool2d(output.float()[None], stride, stride, ceil_mode=True)[0]

    def classify_proposals(self, features: Tensor, proposals: Proposals, text: TextEmbeddings,
                           background: Tensor, scale: float, image: Tensor | None) -> Tensor:
        """(M, K) class scores of the proposals (before objectness)."""
        use_masks = proposals.masks is not None and self.pooling != 'roi'
        if self.pooling == 'mask' and proposals.masks is None:
            raise ValueError("pooling='mask' needs proposals with masks (connected components "
                             "or SAM); use pooling='auto'")
        embeddings = roi_pool_mean(features, proposals.boxes, self.analysis_stride,
                                   self.roi_size)
        if use_masks:
            masked = mask_pool(features, proposals.masks, self.analysis_stride)
            has_mask = masked.norm(dim=1) > 0
            embeddings = torch.where(has_mask[:, None], masked, embeddings)
        probs, _ = classify_embeddings(embeddings, text, background, scale)
        if self.crop_weight > 0:
            crop_probs, _ = classify_embeddings(self.encode_crops(image, proposals.boxes), text,
                                                background, scale)
            probs = probs.clamp(min=1e-12) ** (1 - self.crop_weight) * \
                crop_probs.clamp(min=1e-12) ** self.crop_weight
        if self.objectness_weight > 0:
            objectness = proposals.scores.clamp(min=1e-12)[:, None]
            probs = probs.clamp(min=1e-12) ** (1 - self.objectness_weight) * \
                objectness ** self.objectness_weight
        return probs

    def encode_crops(self, image: Tensor | None, boxes: Tensor) -> Tensor:
        """(M, C) CLIP embeddings of the (enlarged) box crops of the RGB image."""
        if self._crop_encoder is None or image is None:
            raise RuntimeError('crop re-encoding needs the model backbone (OVModel binds it) and '
                               'the image; set crop_weight=0 to disable it')
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        half = (boxes[:, 2:] - boxes[:, :2]) * self.crop_context / 2
        enlarged = torch.cat([centers - half, centers + half], dim=1)
        crops = roi_align(image[None].float(), [enlarged.float()], output_size=self.crop_size,
                          spatial_scale=1.0, sampling_ratio=2, aligned=True)
        return self._crop_encoder(crops)

    def select_detections(self, proposals: Proposals, class_probs: Tensor, sample: OVDataSample,
                          size: tuple[int, int]) -> InstanceData:
        """Top classes per proposal -> per-class NMS -> POS -> ``max_per_img``, at ``ori_shape``."""
        top_k = min(self.top_k_classes, class_probs.shape[1])
        scores, labels = class_probs.topk(top_k, dim=1)
        proposal_index = torch.arange(len(proposals), device=scores.device)[:, None].expand_as(
            labels)
        keep = scores >= self.score_threshold
        scores, labels, proposal_index = scores[keep], labels[keep], proposal_index[keep]
        boxes = proposals.boxes[proposal_index]
        kept = batched_nms(boxes, scores, labels, self.nms_iou)
        if self.pos_threshold <= 1.0 and len(kept):
            kept = kept[partial_object_suppression(boxes[kept], scores[kept], labels[kept],
                                                   self.pos_threshold, self.pos_mode)]
        kept = kept[:self.max_per_img]
        height, width = size
        ori_h, ori_w = sample.metainfo.get('ori_shape', size)[:2]
        factor = boxes.new_tensor([ori_w / width, ori_h / height] * 2)
        instances = InstanceData(bboxes=boxes[kept] * factor, scores=scores[kept],
                                 labels=labels[kept])
        if self.with_masks and proposals.masks is not None:
            # several classes of one proposal share its mask: resize each mask once
            unique, inverse = torch.unique(proposal_index[kept], return_inverse=True)
            instances.masks = masks_to_image(proposals.masks[unique], size, (ori_h, ori_w),
                                             self.analysis_stride)[inverse]
        return instances

    def _empty(self, device: torch.device, sample: OVDataSample) -> InstanceData:
        """No detections (with an empty ``masks`` field when masks are produced)."""
        instances = InstanceData(bboxes=torch.zeros((0, 4), device=device),
                                 scores=torch.zeros(0, device=device),
                                 labels=torch.zeros(0, dtype=torch.long, device=device))
        if self.with_masks and (self.proposals.needs_segmentation or self.proposals.needs_image):
            ori_h, ori_w = sample.metainfo.get('ori_shape', (0, 0))[:2]
            instances.masks = torch.zeros((0, ori_h, ori_w), dtype=torch.bool, device=device)
        return instances


__all__ = ['OVDetectionHead', 'mask_pool', 'masks_to_image', 'roi_pool_mean']
