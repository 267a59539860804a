"""Region proposal network of F-ViT (Faster R-CNN's, as in mmdet 2.x's ``RPNHead``)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation, batched_nms

from ovperception.models.cfg_defaults import with_defaults
from ovperception.models.detection.fvit.anchors import (decode_deltas, encode_deltas,
                                                        level_anchors)
from ovperception.models.detection.fvit.assign import max_iou_assign, sample_balanced
from ovperception.models.detection.fvit.pyramid import norm_layer
from ovperception.registry import MODELS

RPN_TEST_CFG = dict(nms_pre=2000, max_per_img=1000, nms_iou=0.7, min_bbox_size=0.0)
RPN_TRAIN_CFG = dict(pos_iou=0.7, neg_iou=0.3, min_pos_iou=0.3, num=256, pos_fraction=0.5,
                     nms_pre=2000, max_per_img=1000, nms_iou=0.7, min_bbox_size=0.0)


@MODELS.register_module()
class FViTRPNHead(nn.Module):
    """Shared 3x3 convolutions, then per anchor an objectness logit and four box deltas.

    Args:
        in_channels: FPN channels.
        feat_channels: channels of the shared convolutions.
        num_convs: shared 3x3 convolutions (each + norm + ReLU).
        norm: batch norm in the shared convolutions (the OV-LVIS release).
        strides: anchor strides of the levels (ViT-B/16: 4..64; ViT-L/14: 3.5..56).
        scales, ratios: anchor scales (of the stride) and height/width ratios.
        test_cfg, train_cfg: overrides of ``RPN_TEST_CFG`` / ``RPN_TRAIN_CFG``.
    """

    def __init__(self, in_channels: int = 256, feat_channels: int = 256, num_convs: int = 2,
                 norm: bool = False, strides: Sequence[float] = (4, 8, 16, 32, 64),
                 scales: Sequence[float] = (8,), ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 test_cfg: dict | None = None, train_cfg: dict | None = None) -> None:
        super().__init__()
        layers = [Conv2dNormActivation(in_channels if i == 0 else feat_channels, feat_channels,
                                       3, norm_layer=norm_layer(norm),
                                       activation_layer=nn.ReLU)
                  for i in range(num_convs)]
        self.rpn_conv = nn.Sequential(*layers)
        self.strides, self.scales, self.ratios = list(strides), list(scales), list(ratios)
        num_anchors = len(self.scales) * len(self.ratios)
        self.rpn_cls = nn.Conv2d(feat_channels, num_anchors, 1)
        self.rpn_reg = nn.Conv2d(feat_channels, num_anchors * 4, 1)
        self.test_cfg = with_defaults(test_cfg, RPN_TEST_CFG, 'rpn test_cfg')
        self.train_cfg = with_defaults(train_cfg, RPN_TRAIN_CFG, 'rpn train_cfg')

    def forward(self, levels: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per level: (B, A, h, w) objectness logits and (B, 4A, h, w) deltas."""
        scores, deltas = [], []
        for x in levels:
            x = F.relu(self.rpn_conv(x))
            scores.append(self.rpn_cls(x))
            deltas.append(self.rpn_reg(x))
        return scores, deltas

    def anchors(self, levels: list[Tensor]) -> list[Tensor]:
        """Per level (h * w * A, 4) anchors."""
        return [level_anchors(stride, self.scales, self.ratios, tuple(x.shape[-2:]),
                              x.device) for stride, x in zip(self.strides, levels)]

    @staticmethod
    def _flat(scores: Tensor, deltas: Tensor, image: int) -> tuple[Tensor, Tensor]:
        """One image of one level: (h * w * A,) logits and (h * w * A, 4) deltas."""
        return (scores[image].permute(1, 2, 0).reshape(-1),
                deltas[image].permute(1, 2, 0).reshape(-1, 4))

    def proposals(self, levels: list[Tensor], image_sizes: Sequence[tuple[int, int]],
                  training: bool = False) -> list[Tensor]:
        """Per image (P, 5) proposals ``x1, y1, x2, y2, objectness`` (best first).

        Per level the ``nms_pre`` best anchors are decoded (clipped to the image size
        ``(H, W)``), boxes not wider and taller than ``min_bbox_size`` dropped, NMS runs per
        level, and the ``max_per_img`` best remain.
        """
        cfg = self.train_cfg if training else self.test_cfg
        scores, deltas = self.forward(levels)
        anchors = self.anchors(levels)
        out = []
        for b, size in enumerate(image_sizes):
            boxes, probs, ids = [], [], []
            for lvl, level_anchors_ in enumerate(anchors):
                logits, delta = self._flat(scores[lvl], deltas[lvl], b)
                prob = logits.sigmoid()
                if 0 < cfg['nms_pre'] < prob.numel():
                    prob, keep = prob.sort(descending=True)
                    prob, keep = prob[:cfg['nms_pre']], keep[:cfg['nms_pre']]
                    delta, level_anchors_ = delta[keep], level_anchors_[keep]
                boxes.append(decode_deltas(level_anchors_, delta, (1.0,) * 4, size))
                probs.append(prob)
                ids.append(torch.full_like(prob, lvl, dtype=torch.long))
            box, prob, lvl_ids = torch.cat(boxes), torch.cat(probs), torch.cat(ids)
            wh = box[:, 2:] - box[:, :2]
            valid = (wh > cfg['min_bbox_size']).all(dim=1)
            box, prob, lvl_ids = box[valid], prob[valid], lvl_ids[valid]
            keep = batched_nms(box, prob, lvl_ids, cfg['nms_iou'])[:cfg['max_per_img']]
            out.append(torch.cat([box[keep], prob[keep, None]], dim=1).detach())
        return out

    def loss(self, levels: list[Tensor], gt_boxes: Sequence[Tensor]) -> dict[str, Tensor]:
        """Binary cross-entropy on sampled anchors and L1 on the positives' deltas, both
        averaged over the sampled anchors of the batch."""
        cfg = self.train_cfg
        scores, deltas = self.forward(levels)
        anchors = torch.cat(self.anchors(levels))
        logits_all, targets_all, pred_all, reg_all = [], [], [], []
        for b, gt in enumerate(gt_boxes):
            flat = [self._flat(s, d, b) for s, d in zip(scores, deltas)]
            logits = torch.cat([f[0] for f in flat])
            delta = torch.cat([f[1] for f in flat])
            assignment = max_iou_assign(anchors, gt, cfg['pos_iou'], cfg['neg_iou'],
                                        cfg['min_pos_iou'], match_low_quality=True)
            pos, neg = sample_balanced(assignment, cfg['num'], cfg['pos_fraction'])
            logits_all.append(torch.cat([logits[pos], logits[neg]]))
            targets_all.append(torch.cat([logits.new_ones(pos.numel()),
                                          logits.new_zeros(neg.numel())]))
            pred_all.append(delta[pos])
            reg_all.append(encode_deltas(anchors[pos], gt[assignment.gt_index[pos]],
                                         (1.0,) * 4))
        count = max(sum(t.numel() for t in targets_all), 1)
        loss_cls = F.binary_cross_entropy_with_logits(
            torch.cat(logits_all), torch.cat(targets_all), reduction='sum') / count
        loss_bbox = F.l1_loss(torch.cat(pred_all), torch.cat(reg_all), reduction='sum') / count
        return dict(loss_rpn_cls=loss_cls, loss_rpn_bbox=loss_bbox)


