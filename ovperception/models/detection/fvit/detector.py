"""F-ViT: an open-vocabulary two-stage detector on a frozen CLIP ViT (Wu et al., CLIPSelf,
ICLR 2024; wusize/CLIPSelf ``F-ViT``, also the detector of DeCLIP), as released.

Frozen ViT (CLIPSelf / DeCLIP / EVA-02-CLIP weights) -> four block maps -> simple feature
pyramid + FPN -> RPN -> RoI heads. The box head's class branch ends in an embedding that is
compared (cosine x a learned temperature) with the text embeddings of the vocabulary and a
background embedding. At test time the frozen CLIP's own dense map (last block on its
value path, CLIP head, L2-normalised) is RoI-aligned to 1x1 per proposal and classified the
same way (``vlm_temperature``); the two softmaxes are combined geometrically with weight
``alpha`` for training classes and the background, ``beta`` for the others
(:func:`~ovperception.models.detection.fvit.roi_heads.fvit_ensemble`).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torchvision.ops import roi_align

from ovperception.models.cfg_defaults import with_defaults
from ovperception.models.clip.vocabulary import TextEmbeddings, split_synonyms
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                 takes_backbone_statistics)
from ovperception.models.detection.fvit.assign import max_iou_assign, sample_balanced
from ovperception.models.detection.fvit.anchors import encode_deltas
from ovperception.models.detection.fvit.roi_heads import (BOX_STDS, decode_boxes,
                                                          fvit_ensemble, multiclass_nms,
                                                          multilevel_roi_align, paste_masks)
from ovperception.models.modes import ModeDispatchMixin
from ovperception.models.ov_model import OVModel
from ovperception.models.panoptic.fcclip import seen_class_mask
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

TEST_CFG = dict(score_thr=0.01, nms_iou=0.4, max_per_img=100, mask_thr=0.5, mask_margin=None,
                pad_to=None)
TRAIN_CFG = dict(pos_iou=0.5, neg_iou=0.5, min_pos_iou=0.5, match_low_quality=False,
                 num=512, pos_fraction=0.25, background_weight=1.0, pad_to=None)


@dataclass
class EncodedFViT:
    """Vocabulary-independent outputs of a batch (reused across vocabularies).

    Attributes:
        levels: FPN levels; clip_map: (B, C, h, w) L2-normalised frozen CLIP map.
        proposals: per image (P, 5) RPN proposals.
        embeds: (R, D) region embeddings; deltas: (R, 4) box deltas; clip_feats: (R, C)
            CLIP region features, R = all proposals of the batch in order.
    """

    levels: list[Tensor]
    clip_map: Tensor
    proposals: list[Tensor]
    embeds: Tensor
    deltas: Tensor
    clip_feats: Tensor


def _build(module: nn.Module | dict | None, **defaults: Any) -> nn.Module | None:
    if module is None or isinstance(module, nn.Module):
        return module
    return MODELS.build({**defaults, **module})




@MODELS.register_module()
class FViT(ModeDispatchMixin, BaseModel):
    """Frozen CLIP ViT + simple pyramid + RPN + open-vocabulary RoI heads.

    Args:
        backbone: ``OpenCLIPBackbone`` (EVA-02 or OpenAI ViT), ``dense_mode='maskclip'`` as
            released (the last block's value path feeds the last pyramid level and the
            CLIP map).
        out_indices: the four blocks feeding the pyramid (ViT-B: 3, 5, 7, 11; L: 6, 10, 14, 23).
        neck: ``ViTSimplePyramid``; rpn_head: ``FViTRPNHead``; box_head: ``FViTBoxHead``;
            mask_head: ``FViTMaskHead`` or None.
        seen_classnames: the training vocabulary (list or class-name file): classes in it
            get ``alpha``, the others ``beta``.
        alpha, beta: frozen-CLIP weights of the ensemble (OV-COCO B: 0.1 / 0.8).
        vlm_temperature: logit scale of the frozen CLIP classifier (75 OV-COCO, 50 OV-LVIS).
        template_set: prompt templates of the text embeddings.
        class_embeddings: optional released embedding file (F-ViT's ``datasets/embeddings/
            *.pt``: ``{name: (C,) tensor}``, made with its own prompt ensemble, background
            included): names found in it (underscores as spaces, any case) use its rows, the
            others the text encoder; its ``background`` serves when no background embedding
            was loaded with the weights.
        test_cfg: ``score_thr``, ``nms_iou``, ``max_per_img``, ``mask_thr``,
            ``mask_margin`` (None: each mask pasted over the whole image, the GPU path of the
            release; 1: over its box plus a pixel, the CPU path), ``pad_to`` (pad the batch
            to this square side, as the released test pipeline; None: the batch size).
        train_cfg: RoI sampling (``pos_iou``, ``neg_iou``, ``min_pos_iou``,
            ``match_low_quality``, ``num``, ``pos_fraction``), ``background_weight`` of the
            cross-entropy, ``pad_to``.
    """

    text_cache = OVModel.text_cache
    encode_vocabulary = OVModel.encode_vocabulary
    vocabulary_groups = staticmethod(OVModel.vocabulary_groups)

    def __init__(self, backbone: nn.Module | dict, neck: nn.Module | dict,
                 rpn_head: nn.Module | dict, box_head: nn.Module | dict, *,
                 out_indices: Sequence[int] = (3, 5, 7, 11),
                 mask_head: nn.Module | dict | None = None,
                 seen_classnames: Sequence[str] | str | None = None,
                 alpha: float = 0.1, beta: float = 0.8, vlm_temperature: float = 75.0,
                 template_set: str | Sequence[str] = 'vild14',
                 class_embeddings: str | None = None,
                 text_cache_dir: str | None = None, test_cfg: dict | None = None,
                 train_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None,
                 init_cfg: dict | None = None) -> None:
        stats_from_backbone = takes_backbone_statistics(data_preprocessor)
        if data_preprocessor is None:
            data_preprocessor = dict(type='ovperception.OVDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_cfg = with_defaults(test_cfg, TEST_CFG, 'test_cfg')
        self.train_cfg = with_defaults(train_cfg, TRAIN_CFG, 'train_cfg')
        self.backbone = _build(backbone)
        if stats_from_backbone:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        if len(out_indices) != 4:
            raise ValueError(f'out_indices needs the 4 blocks of the pyramid, got {out_indices}')
        self.out_indices = [int(i) for i in out_indices]
        self.neck = _build(neck)
        self.rpn_head = _build(rpn_head)
        self.box_head = _build(box_head)
        self.mask_head = _build(mask_head)
        embed_dim = int(self.backbone.embed_dim)
        self.register_buffer('background_embedding', torch.zeros(embed_dim))
        if isinstance(seen_classnames, str):
            from ovperception.models.clip.classnames import load_classnames
            seen_classnames = load_classnames(seen_classnames)
        self.seen_names = frozenset(n.lower() for entry in (seen_classnames or ())
                                    for n in split_synonyms(entry))
        self.alpha, self.beta = float(alpha), float(beta)
        self.vlm_temperature = float(vlm_temperature)
        self.template_set = template_set
        self.released_embeddings = _read_class_embeddings(class_embeddings, embed_dim)
        self.text_cache_dir = text_cache_dir
        self.background_words: tuple[str, ...] = ()
        self.shared_names = False
        self._text_cache = None
        self._vocab_memo: OrderedDict = OrderedDict()

    @property
    def is_trainable(self) -> bool:
        """Whether any parameter would receive a gradient."""
        return any(p.requires_grad for p in self.parameters())

    def train(self, mode: bool = True) -> FViT:
        """The frozen CLIP stays in eval mode."""
        super().train(mode)
        if not any(p.requires_grad for p in self.backbone.parameters()):
            self.backbone.eval()
        return self

    # ------------------------------------------------------------------ features
    def _pad(self, inputs: Tensor, training: bool) -> Tensor:
        side = (self.train_cfg if training else self.test_cfg)['pad_to']
        patch = int(self.backbone.patch_size)
        height, width = inputs.shape[-2:]
        if side is not None:
            if height > side or width > side:
                raise ValueError(f'input {height}x{width} is larger than pad_to={side}')
            height, width = side, side
        height, width = -(-height // patch) * patch, -(-width // patch) * patch
        return F.pad(inputs, (0, width - inputs.shape[-1], 0, height - inputs.shape[-2]))

    def features(self, inputs: Tensor) -> tuple[list[Tensor], Tensor]:
        """(B, 3, H, W) -> (FPN levels, (B, C, h, w) L2-normalised frozen CLIP map)."""
        with torch.no_grad():
            maps, dense = self.backbone.block_maps_and_dense(inputs, self.out_indices)
        return self.neck([m.detach() for m in maps]), F.normalize(dense, dim=1)

    def _roi_strides(self) -> list[float]:
        return list(self.rpn_head.strides[:4])

    def region_outputs(self, levels: list[Tensor], rois: Tensor) -> tuple[Tensor, Tensor]:
        """(R, 5) rois -> ((R, D) region embeddings, (R, 4) deltas)."""
        pooled = multilevel_roi_align(levels[:4], rois, self._roi_strides(),
                                      self.box_head.roi_size)
        return self.box_head(pooled)

    def clip_region_features(self, clip_map: Tensor, rois: Tensor) -> Tensor:
        """(R, 5) rois -> (R, C) L2-normalised frozen CLIP features (1x1 RoI-align)."""
        stride = float(self.backbone.patch_size)
        pooled = roi_align(clip_map, rois, 1, 1.0 / stride, 0, True)[:, :, 0, 0]
        return F.normalize(pooled, dim=-1)

    # ------------------------------------------------------------------ text
    def class_embeddings(self, text: TextEmbeddings) -> Tensor:
        """(N_names + 1, C): the vocabulary's names (released rows where
        ``class_embeddings`` has them) then the background embedding (loaded with the
        weights, else the released file's, else the text embedding of "background")."""
        device = self.background_embedding.device
        released = self.released_embeddings
        if not bool(self.background_embedding.any()):
            with torch.no_grad():
                value = released.get('background') if released else None
                self.background_embedding.copy_(
                    value if value is not None else self.text_cache.embed(['background'])[0])
        names = text.embeddings.to(device)
        if released:
            rows = [released.get(_embedding_key(n)) for n in text.vocabulary.names]
            names = torch.stack([names[i] if row is None else row.to(device, names.dtype)
                                 for i, row in enumerate(rows)])
        return torch.cat([names, F.normalize(self.background_embedding, dim=0)[None]])

    def _logits(self, feats: Tensor, text: TextEmbeddings, scale: Tensor | float) -> Tensor:
        """(R, D) normalised features -> (R, K + 1) logits (synonyms: max), background last."""
        classes = self.class_embeddings(text).to(feats.dtype)
        logits = scale * feats @ classes.T
        names = text.reduce_synonyms(logits[:, :-1], dim=-1)
        return torch.cat([names, logits[:, -1:]], dim=-1)

    def _check_vocabulary(self, text: TextEmbeddings) -> None:
        if text.vocabulary.has_virtual_background:
            raise ValueError('F-ViT has its own background embedding; background words are '
                             'not used')

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def encode_images(self, inputs: Tensor,
                      data_samples: SampleList | None = None) -> EncodedFViT:
        """Backbone, pyramid, RPN and RoI heads: everything but the classification."""
        inputs = self._pad(inputs, training=False)
        levels, clip_map = self.features(inputs)
        sizes = [tuple(s.metainfo.get('img_shape', inputs.shape[-2:]))[:2]
                 for s in data_samples] if data_samples else [tuple(inputs.shape[-2:])] * len(inputs)
        proposals = self.rpn_head.proposals(levels, sizes)
        rois = _rois(proposals)
        embeds, deltas = self.region_outputs(levels, rois)
        return EncodedFViT(levels, clip_map, proposals, embeds, deltas,
                           self.clip_region_features(clip_map, rois))

    @torch.no_grad()
    def decode(self, encoded: EncodedFViT, data_samples: SampleList) -> list[OVDataSample]:
        """Classify the encoded regions with each sample's vocabulary; fill
        ``pred_instances`` (boxes at ``ori_shape``, scores, labels[, masks])."""
        counts = [len(p) for p in encoded.proposals]
        starts = [sum(counts[:i]) for i in range(len(counts))]
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames, encoded.embeds.device)
            self._check_vocabulary(text)
            seen = torch.cat([seen_class_mask(text.vocabulary.entries, self.seen_names),
                              torch.ones(1, dtype=torch.bool)])
            for index in indices:
                part = slice(starts[index], starts[index] + counts[index])
                scores = fvit_ensemble(
                    self._logits(encoded.embeds[part], text, self.box_head.detect_temperature),
                    self._logits(encoded.clip_feats[part], text, self.vlm_temperature),
                    seen, self.alpha, self.beta)
                sample = data_samples[index]
                sample.pred_instances = self._detections(
                    encoded, index, encoded.proposals[index][:, :4], encoded.deltas[part],
                    scores, sample)
                sample.set_metainfo(dict(label_names=text.class_names))
        return list(data_samples)

    def _detections(self, encoded: EncodedFViT, index: int, rois: Tensor, deltas: Tensor,
                    scores: Tensor, sample: OVDataSample) -> InstanceData:
        cfg = self.test_cfg
        if not bool(torch.isfinite(scores).all()):
            raise FloatingPointError(f'non-finite scores for '
                                     f'{sample.metainfo.get("img_path", "a sample")}: check '
                                     'the weights (a NaN checkpoint?) and the input image')
        img_shape = tuple(sample.metainfo.get('img_shape', encoded.clip_map.shape[-2:]))[:2]
        boxes = decode_boxes(rois, deltas, img_shape)
        sy, sx = sample.metainfo.get('scale_factor', (1.0, 1.0))
        factor = boxes.new_tensor([sx, sy, sx, sy])
        boxes, score, labels = multiclass_nms(boxes / factor, scores, cfg['score_thr'],
                                              cfg['nms_iou'], cfg['max_per_img'])
        instances = InstanceData(bboxes=boxes, scores=score, labels=labels)
        if self.mask_head is not None:
            ori = tuple(sample.metainfo.get('ori_shape', img_shape))[:2]
            instances.masks = self._masks(encoded, index, boxes, factor, ori)
        return instances

    def _masks(self, encoded: EncodedFViT, index: int, boxes: Tensor, factor: Tensor,
               ori: tuple[int, int]) -> Tensor:
        """(M, H_ori, W_ori) bool masks of the detections (boxes at ``ori_shape``)."""
        if len(boxes) == 0:
            return torch.zeros((0, *ori), dtype=torch.bool, device=boxes.device)
        rois = torch.cat([boxes.new_full((len(boxes), 1), index), boxes * factor], dim=1)
        pooled = multilevel_roi_align(encoded.levels[:4], rois, self._roi_strides(),
                                      self.mask_head.roi_size)
        probs = self.mask_head(pooled).sigmoid()
        cfg = self.test_cfg
        margin = cfg['mask_margin']
        return paste_masks(probs, boxes, ori, cfg['mask_thr'],
                           margin=None if margin is None else int(margin))

    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Detections of each sample's vocabulary."""
        return self.decode(self.encode_images(inputs, data_samples), data_samples)

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """RPN losses and the RoI heads' cross-entropy (K + 1 classes), L1 on positive
        deltas (and mask BCE with a mask head), on base-class ``gt_instances``."""
        inputs = self._pad(inputs, training=True)
        levels, _ = self.features(inputs)
        gts = [_gt_boxes(s, inputs.device) for s in data_samples]
        losses = self.rpn_head.loss(levels, [g[0] for g in gts])
        sizes = [tuple(s.metainfo.get('img_shape', inputs.shape[-2:]))[:2] for s in data_samples]
        proposals = self.rpn_head.proposals(levels, sizes, training=True)
        cfg = self.train_cfg
        rois, labels, targets, positives = [], [], [], []
        for b, ((gt, gt_labels), props) in enumerate(zip(gts, proposals)):
            cands = torch.cat([props[:, :4], gt])  # the gt boxes join the proposals
            assignment = max_iou_assign(cands, gt, cfg['pos_iou'], cfg['neg_iou'],
                                        cfg['min_pos_iou'], cfg['match_low_quality'])
            pos, neg = sample_balanced(assignment, cfg['num'], cfg['pos_fraction'])
            chosen = torch.cat([pos, neg])
            rois.append(torch.cat([cands.new_full((len(chosen), 1), b), cands[chosen]], 1))
            matched = assignment.gt_index[pos]
            labels.append(torch.cat([gt_labels[matched],
                                     gt_labels.new_full((len(neg),), -1)]))
            targets.append(encode_deltas(cands[pos], gt[matched], BOX_STDS))
            positives.append((rois[-1][:len(pos)], matched))
        rois_t = torch.cat(rois)
        embeds, deltas = self.region_outputs(levels, rois_t)
        label_t = torch.cat(labels)
        losses.update(self._classification_loss(embeds, label_t, data_samples, rois_t))
        positive = label_t >= 0
        count = max(len(label_t), 1)
        losses['loss_bbox'] = F.l1_loss(deltas[positive], torch.cat(targets),
                                        reduction='sum') / count
        if self.mask_head is not None:
            losses['loss_mask'] = self._mask_loss(levels, data_samples, positives)
        return losses

    def _mask_loss(self, levels: list[Tensor], data_samples: SampleList,
                   positives: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Per-pixel BCE of the mask logits of the positive RoIs against their ground-truth
        masks RoI-aligned into the same boxes and binarised at 0.5 (mmdet's mask targets)."""
        pos_rois = torch.cat([r for r, _ in positives])
        if pos_rois.numel() == 0:
            return levels[0].sum() * 0
        pooled = multilevel_roi_align(levels[:4], pos_rois, self._roi_strides(),
                                      self.mask_head.roi_size)
        logits = self.mask_head(pooled)
        size = logits.shape[-1]
        targets = []
        for sample, (rois, matched) in zip(data_samples, positives):
            if len(rois) == 0:
                continue
            instances = sample.gt_instances
            if 'masks' not in instances:
                raise ValueError('F-ViT with a mask head trains on gt_instances.masks: load '
                                 'the annotations with masks (LoadDetAnnotations(with_mask=True))')
            masks = instances.masks
            if 'ignore_flags' in instances:
                masks = masks[~instances.ignore_flags.bool()]
            img_h, img_w = sample.metainfo['img_shape'][:2]
            ori_h, ori_w = sample.metainfo.get('ori_shape', (img_h, img_w))[:2]
            boxes = rois[:, 1:] * rois.new_tensor([ori_w / img_w, ori_h / img_h] * 2)
            index = matched.to(boxes.dtype)[:, None]
            aligned = roi_align(torch.as_tensor(masks, device=boxes.device).float()[:, None],
                                torch.cat([index, boxes], dim=1), size, 1.0, 0, True)
            targets.append((aligned[:, 0] >= 0.5).float())
        return F.binary_cross_entropy_with_logits(logits, torch.cat(targets))

    def _classification_loss(self, embeds: Tensor, labels: Tensor, data_samples: SampleList,
                             rois: Tensor) -> dict[str, Tensor]:
        """Weighted cross-entropy over each sample's vocabulary plus the background (index
        -1 in ``labels``), averaged over the sampled regions."""
        total = embeds.new_zeros(())
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames, embeds.device)
            self._check_vocabulary(text)
            rows = torch.isin(rois[:, 0].long(), torch.tensor(indices, device=rois.device))
            logits = self._logits(embeds[rows], text, self.box_head.detect_temperature)
            target = labels[rows].clone()
            target[target < 0] = logits.shape[1] - 1
            weight = logits.new_ones(logits.shape[1])
            weight[-1] = self.train_cfg['background_weight']
            total = total + (F.cross_entropy(logits, target, reduction='none')
                             * weight[target]).sum()
        return dict(loss_cls=total / max(len(labels), 1))

    def _forward(self, inputs: Tensor, data_samples: SampleList | None = None) -> Any:
        """Tensor mode: FPN levels and the per-image RPN proposals."""
        encoded = self.encode_images(inputs, data_samples)
        return encoded.levels, encoded.proposals


def _embedding_key(name: str) -> str:
    return name.replace('_', ' ').strip().lower()


def _read_class_embeddings(path: str | None, embed_dim: int) -> dict[str, Tensor] | None:
    """``{normalised name: (C,) L2-normalised}`` from a released embedding file, or None."""
    if path is None:
        return None
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(f'class_embeddings file {path!r} does not exist (F-ViT ships '
                                'them in wusize/CLIPSelf F-ViT/datasets/embeddings/)')
    raw = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(raw, dict) or not all(
            isinstance(v, Tensor) and v.shape == (embed_dim,) for v in raw.values()):
        raise ValueError(f'{path}: expected {{name: ({embed_dim},) tensor}} class embeddings')
    return {_embedding_key(str(k)): F.normalize(v.float(), dim=0) for k, v in raw.items()}


def _rois(proposals: Sequence[Tensor]) -> Tensor:
    """Per-image (P, >= 4) boxes -> (R, 5) ``batch index, x1, y1, x2, y2``."""
    return torch.cat([torch.cat([p.new_full((len(p), 1), i), p[:, :4]], dim=1)
                      for i, p in enumerate(proposals)])


def _gt_boxes(sample: OVDataSample, device: torch.device) -> tuple[Tensor, Tensor]:
    """(G, 4) boxes scaled from ``ori_shape`` to the input size and (G,) labels of a
    sample's ``gt_instances`` (boxes flagged ``ignore`` dropped)."""
    instances = sample.gt_instances
    img_h, img_w = sample.metainfo['img_shape'][:2]
    ori_h, ori_w = sample.metainfo.get('ori_shape', (img_h, img_w))[:2]
    boxes = instances.bboxes.to(device, torch.float32) * torch.tensor(
        [img_w / ori_w, img_h / ori_h] * 2, device=device)
    labels = instances.labels.to(device)
    if 'ignore_flags' in instances:
        keep = ~instances.ignore_flags.to(device).bool()
        boxes, labels = boxes[keep], labels[keep]
    return boxes, labels
