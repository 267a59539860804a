"""F-ViT's RoI heads: multi-level RoI-align, the box head whose class branch ends in an
embedding (classified against text embeddings and a background embedding), the
class-agnostic mask head of the OV-LVIS models, and their post-processing.

RoI-align is torchvision's ``roi_align(aligned=True, sampling_ratio=0)``, the op mmcv's
``RoIAlign`` (``aligned=True`` by default) computes in the released models.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation, batched_nms, roi_align

from ovperception.models.detection.fvit.anchors import decode_deltas
from ovperception.models.detection.fvit.pyramid import norm_layer
from ovperception.registry import MODELS

FINEST_SCALE = 56
BOX_STDS = (0.1, 0.1, 0.2, 0.2)


def roi_levels(rois: Tensor, num_levels: int, finest_scale: float = FINEST_SCALE) -> Tensor:
    """(R, 5) rois -> (R,) pyramid level: ``floor(log2(sqrt(area) / finest_scale))``,
    clamped to the levels (level 0 for boxes under 112 px)."""
    scale = ((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])).sqrt()
    return (scale / finest_scale + 1e-6).log2().floor().clamp(0, num_levels - 1).long()


def multilevel_roi_align(levels: Sequence[Tensor], rois: Tensor, strides: Sequence[float],
                         output_size: int) -> Tensor:
    """Pool each RoI from its level.

    Args:
        levels: (B, C, h_l, w_l) maps of strides ``strides``.
        rois: (R, 5) ``batch index, x1, y1, x2, y2`` in input pixels.
        output_size: side of the pooled grid.

    Returns:
        (R, C, output_size, output_size).
    """
    out = levels[0].new_zeros(rois.shape[0], levels[0].shape[1], output_size, output_size)
    target = roi_levels(rois, len(levels))
    for index, (level, stride) in enumerate(zip(levels, strides)):
        inds = torch.nonzero(target == index).flatten()
        if inds.numel():
            out[inds] = roi_align(level, rois[inds], output_size, 1.0 / stride, 0, True)
    return out


@MODELS.register_module()
class FViTBoxHead(nn.Module):
    """Shared 3x3 convolutions and fully connected layers, then a class branch (one more
    FC + ReLU: the region embedding) and a box branch (FC + ReLU, class-agnostic deltas).

    Args:
        in_channels: FPN channels; conv_channels: of the shared convolutions.
        num_convs: shared 3x3 convolutions (each + norm + ReLU).
        embed_dim: FC width = the CLIP embedding size (512 for ViT-B/16, 768 for L/14).
        num_fcs: shared FCs; roi_size: pooled grid side.
        norm: batch norm in the convolutions.
        temperature: initial value of the learned classification temperature, or fixed
            when ``learn_temperature=False``.
    """

    def __init__(self, in_channels: int = 256, conv_channels: int = 256, num_convs: int = 4,
                 embed_dim: int = 512, num_fcs: int = 2, roi_size: int = 7, norm: bool = True,
                 temperature: float = 50.0, learn_temperature: bool = True) -> None:
        super().__init__()
        self.shared_convs = nn.ModuleList([
            Conv2dNormActivation(in_channels if i == 0 else conv_channels, conv_channels, 3,
                                 norm_layer=norm_layer(norm), activation_layer=nn.ReLU)
            for i in range(num_convs)])
        flat = (conv_channels if num_convs else in_channels) * roi_size * roi_size
        self.shared_fcs = nn.ModuleList([nn.Linear(flat if i == 0 else embed_dim, embed_dim)
                                         for i in range(num_fcs)])
        self.cls_fcs = nn.ModuleList([nn.Linear(embed_dim, embed_dim)])
        self.reg_fcs = nn.ModuleList([nn.Linear(embed_dim, embed_dim)])
        self.fc_reg = nn.Linear(embed_dim, 4)
        value = torch.tensor(float(temperature))
        if learn_temperature:
            self.detect_temperature = nn.Parameter(value)
        else:
            self.register_buffer('detect_temperature', value)
        self.roi_size = roi_size

    def forward(self, roi_feats: Tensor) -> tuple[Tensor, Tensor]:
        """(R, C, s, s) pooled features -> ((R, D) L2-normalised embeddings, (R, 4) deltas)."""
        x = roi_feats
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        x_cls, x_reg = x, x
        for fc in self.cls_fcs:
            x_cls = F.relu(fc(x_cls))  # a ReLU on the embedding, as released
        for fc in self.reg_fcs:
            x_reg = F.relu(fc(x_reg))
        return x_cls / x_cls.norm(dim=-1, keepdim=True), self.fc_reg(x_reg)


@MODELS.register_module()
class FViTMaskHead(nn.Module):
    """Class-agnostic FCN mask head (the OV-LVIS models): 3x3 convolutions, a 2x transposed
    convolution, one mask logit map per RoI.

    Args:
        in_channels: FPN channels; conv_channels: head width; num_convs: 3x3 convs.
        norm: batch norm in the convolutions; roi_size: pooled grid side (14).
    """

    def __init__(self, in_channels: int = 256, conv_channels: int = 256, num_convs: int = 4,
                 norm: bool = True, roi_size: int = 14) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            Conv2dNormActivation(in_channels if i == 0 else conv_channels, conv_channels, 3,
                                 norm_layer=norm_layer(norm), activation_layer=nn.ReLU)
            for i in range(num_convs)])
        self.upsample = nn.ConvTranspose2d(conv_channels, conv_channels, 2, stride=2)
        self.conv_logits = nn.Conv2d(conv_channels, 1, 1)
        self.roi_size = roi_size

    def forward(self, roi_feats: Tensor) -> Tensor:
        """(R, C, s, s) -> (R, 2s, 2s) mask logits."""
        x = roi_feats
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(F.relu(self.upsample(x)))[:, 0]


def fvit_ensemble(det_logits: Tensor, clip_logits: Tensor, seen: Tensor, alpha: float,
                  beta: float) -> Tensor:
    """F-ViT's geometric ensemble of the detector's and the frozen CLIP's class scores.

    Both softmaxes run over the K classes and the background; then, per column,
    ``p = p_det^(1 - a) * p_clip^a`` with ``a = alpha`` for classes seen in training and the
    background, ``beta`` for the others (no renormalisation, as released).

    Args:
        det_logits, clip_logits: (R, K + 1) logits, background last.
        seen: (K + 1,) bool, background included (True).

    Returns:
        (R, K + 1) scores.
    """
    p_det, p_clip = det_logits.softmax(-1), clip_logits.softmax(-1)
    weight = torch.where(seen.to(p_det.device), alpha, beta).to(p_det.dtype)
    return p_det ** (1 - weight) * p_clip ** weight


def multiclass_nms(boxes: Tensor, scores: Tensor, score_thr: float, iou: float,
                   max_per_img: int) -> tuple[Tensor, Tensor, Tensor]:
    """Every (box, class) pair above ``score_thr`` (background column dropped), NMS per class,
    the ``max_per_img`` best.

    Args:
        boxes: (R, 4) class-agnostic boxes; scores: (R, K + 1), background last.

    Returns:
        ``(boxes (M, 4), scores (M,), labels (M,))``, best first.
    """
    num_classes = scores.shape[1] - 1
    flat = scores[:, :-1].reshape(-1)
    keep = torch.nonzero(flat > score_thr).flatten()
    box = boxes[keep // num_classes]
    label = keep % num_classes
    score = flat[keep]
    order = batched_nms(box, score, label, iou)[:max_per_img]
    return box[order], score[order], label[order]


def paste_masks(mask_probs: Tensor, boxes: Tensor, size: tuple[int, int],
                threshold: float = 0.5, margin: int | None = 1) -> Tensor:
    """(M, s, s) mask probabilities in (M, 4) boxes -> (M, H, W) bool image masks.

    Each mask is resampled (bilinear, ``align_corners=False``, zeros outside) over its box
    plus ``margin`` pixels (outside that window it is empty; None: the whole image, where
    the bilinear fall-off may reach a little further), then thresholded (``>= threshold``).
    """
    height, width = size
    out = torch.zeros(len(boxes), height, width, dtype=torch.bool, device=boxes.device)
    for i, box in enumerate(boxes):
        x0, y0, x1, y1 = 0, 0, width, height
        if margin is not None:
            x0 = max(int(math.floor(float(box[0]))) - margin, 0)
            y0 = max(int(math.floor(float(box[1]))) - margin, 0)
            x1 = min(int(math.ceil(float(box[2]))) + margin, width)
            y1 = min(int(math.ceil(float(box[3]))) + margin, height)
        if x1 <= x0 or y1 <= y0:
            continue
        xs = torch.arange(x0, x1, device=boxes.device, dtype=torch.float32) + 0.5
        ys = torch.arange(y0, y1, device=boxes.device, dtype=torch.float32) + 0.5
        gx = (xs - box[0]) / (box[2] - box[0]) * 2 - 1
        gy = (ys - box[1]) / (box[3] - box[1]) * 2 - 1
        gx = torch.where(torch.isinf(gx), torch.zeros_like(gx), gx)
        gy = torch.where(torch.isinf(gy), torch.zeros_like(gy), gy)
        grid = torch.stack([gx[None, :].expand(len(gy), -1),
                            gy[:, None].expand(-1, len(gx))], dim=-1)
        sampled = F.grid_sample(mask_probs[i][None, None].float(), grid[None],
                                align_corners=False)[0, 0]
        out[i, y0:y1, x0:x1] = sampled >= threshold
    return out


def decode_boxes(rois: Tensor, deltas: Tensor, img_shape: tuple[int, int]) -> Tensor:
    """(R, 4) proposals and (R, 4) box-head deltas -> (R, 4) boxes clipped to the image."""
    return decode_deltas(rois, deltas, BOX_STDS, img_shape)
