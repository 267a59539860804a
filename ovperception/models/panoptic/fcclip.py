"""FC-CLIP: a single frozen convolutional CLIP for open-vocabulary semantic / panoptic
segmentation (Yu et al., NeurIPS 2023), as released (bytedance/fc-clip), with MAFT+'s
content-dependent transfer as an option.

One frozen ConvNeXt / ResNet CLIP image tower feeds both

* the **in-vocabulary** path: multi-scale trunk features -> multi-scale deformable-attention
  pixel decoder -> masked transformer decoder -> per query a mask and a class embedding
  (read from the query and the mask features pooled under its mask), compared (cosine x a
  learned temperature) with the text embeddings of the vocabulary and a learned void
  embedding (trained with Hungarian-matched set losses), and
* the **out-of-vocabulary** path (inference only): the frozen stride-32 trunk features
  pooled under each predicted mask (ConvNeXt: average then the CLIP head; ResNet: CLIP's
  attention pool restricted to the mask) and compared with the same text embeddings (CLIP
  logit scale),

combined by the geometric ensemble (:mod:`ovperception.models.panoptic.ensemble`), with
weights ``alpha`` for classes of the training vocabulary and ``beta`` for the others.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.cfg_defaults import with_defaults
from ovperception.models.clip.vocabulary import TextEmbeddings, split_synonyms
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                 takes_backbone_statistics)
from ovperception.models.panoptic.ensemble import geometric_ensemble
from ovperception.models.panoptic.mask_adapter import activation_pooling
from ovperception.models.panoptic.mask_adapter_training import mask_adapter_losses, mixed_masks
from ovperception.models.panoptic.mask_inference import (instance_inference, mask_pool,
                                                         masked_attention_pool,
                                                         panoptic_inference, semantic_inference)
from ovperception.models.ov_model import OVModel, add_group_losses
from ovperception.models.panoptic.targets import segment_targets
from ovperception.models.modes import ModeDispatchMixin
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

DEFAULT_TEST_CFG = dict(semantic_on=True, panoptic_on=True, instance_on=False,
                        object_mask_threshold=0.0, overlap_threshold=0.8, max_instances=100,
                        semantic_postprocess_before_inference=None)
#: Mask-Adapter mixed-mask training, as released (``MODEL.MASK_ADAPTER`` of its configs:
#: NUM_GT_MASKS, NUM_PRED_MASKS, IOU_THRESHOLD, COS_WEIGHT; MASK_FORMER.CLASS_WEIGHT).
ADAPTER_TRAINING_DEFAULTS = dict(num_gt_masks=16, num_pred_masks=8, iou_threshold=0.7,
                                 class_weight=2.0, cosine_weight=5.0)


@dataclass
class EncodedQueries:
    """Image-side outputs of a batch, reusable across vocabularies.

    Attributes:
        res5: (B, C5, H/32, W/32) frozen CLIP trunk features (for mask pooling / CDT).
        class_embeds: (B, Q, C) query class embeddings.
        mask_logits: (B, Q, H/4, W/4) mask logits.
        padded_size: (H, W) of the padded input batch.
    """

    res5: Tensor
    class_embeds: Tensor
    mask_logits: Tensor
    padded_size: tuple[int, int]


def _build(module: nn.Module | dict | None, **defaults: Any) -> nn.Module | None:
    """Build a config (filling ``defaults`` it does not set) or pass a module through."""
    if module is None or isinstance(module, nn.Module):
        return module
    return MODELS.build({**defaults, **module})


def seen_class_mask(classnames: Sequence[str], seen_names: frozenset[str]) -> Tensor:
    """(K,) bool: a class is seen when any of its synonyms (case-insensitive) was trained on."""
    return torch.tensor([any(n.lower() in seen_names for n in split_synonyms(entry))
                         for entry in classnames], dtype=torch.bool)


@MODELS.register_module()
class FCCLIP(ModeDispatchMixin, BaseModel):
    """Frozen CNN CLIP + pixel decoder + mask decoder + in/out-vocabulary classifiers.

    The vocabulary is data (each sample's ``classnames``), handled by the same machinery
    as :class:`OVModel` (vocabulary grouping, ``TextEmbeddingCache``, memoised vocabularies).

    Args:
        backbone: ``OpenCLIPBackbone`` (ConvNeXt or ResNet CLIP) or its config.
        pixel_decoder: e.g. ``MSDeformAttnPixelDecoder`` (released) or ``FPNPixelDecoder``;
            ``in_channels`` defaults to the backbone's stage channels.
        mask_decoder: e.g. ``MaskTransformerDecoder``; ``embed_dim`` defaults to the CLIP
            embedding size, ``in_channels`` / ``mask_dim`` to the pixel decoder's.
        criterion: ``MaskSetCriterion`` config.
        content_transfer: optional MAFT+ ``ContentDependentTransfer`` / ``MAFTContentTransfer``
            config (``embed_dim`` defaults to the CLIP embedding size): text embeddings
            adapted per image.
        content_transfer_scope: ``'both'`` classifiers use the adapted text, or
            ``'out_vocabulary'`` only (MAFT+ as released; the in-vocabulary one keeps CLIP's).
        seen_classnames: the training vocabulary (list or class-name file): decides which
            test classes get ``alpha`` (seen) and which ``beta`` (unseen); None = all unseen.
        alpha, beta: geometric-ensemble weights of the out-of-vocabulary classifier for
            seen / unseen classes (FC-CLIP: 0.4 / 0.8); ``alpha = beta = 0`` uses the
            in-vocabulary classifier only.
        ensemble_on_valid_mask: ensemble only proposals whose mask covers a pixel of the CLIP
            feature map (official ``ENSEMBLE_ON_VALID_MASK``: False for ConvNeXt, True in
            its ResNet configs).
        template_set: prompt templates (FC-CLIP: ViLD's 14).
        text_cache_dir: on-disk text-embedding cache.
        test_cfg: ``semantic_on``, ``panoptic_on``, ``instance_on``,
            ``object_mask_threshold``, ``overlap_threshold``, ``max_instances``,
            ``semantic_postprocess_before_inference`` (official: resize the mask logits to
            the original size before the semantic combination; None = as released, i.e.
            only when panoptic or instance output is on, otherwise the per-class scores are
            computed at the input size, then cropped and resized).
        data_preprocessor: batch collator config (default: backbone statistics, pad to 32).
        mask_adapter: optional :class:`MaskAdapter` config (Mask-Adapter, CVPR 2025):
            the out-of-vocabulary classifier pools the trunk features with its activation
            maps of each binarised mask (``clip_dim`` defaults to the CLIP embedding size).
        mask_threshold: binarisation threshold of the mask probabilities for the adapter
            (0.5 in the released eval configs).
        adapter_training: train the Mask-Adapter as released (mixed-mask training): a dict
            of ``num_gt_masks`` (16), ``num_pred_masks`` (8), ``iou_threshold`` (0.7),
            ``class_weight`` (2.0), ``cosine_weight`` (5.0); everything but the adapter and
            the void embedding is frozen and ``loss`` returns the adapter's losses
            (``num_pred_masks=0``: the released ground-truth warm-up, segmenter not run).
    """

    # Vocabulary machinery shared with OVModel (needs backbone, template_set,
    # text_cache_dir, background_words, _text_cache and _vocab_memo).
    text_cache = OVModel.text_cache
    encode_vocabulary = OVModel.encode_vocabulary
    vocabulary_groups = staticmethod(OVModel.vocabulary_groups)

    def __init__(self, backbone: nn.Module | dict, pixel_decoder: nn.Module | dict,
                 mask_decoder: nn.Module | dict, *, criterion: nn.Module | dict | None = None,
                 content_transfer: nn.Module | dict | None = None,
                 content_transfer_scope: str = 'both',
                 seen_classnames: Sequence[str] | str | None = None,
                 alpha: float = 0.4, beta: float = 0.8, ensemble_on_valid_mask: bool = False,
                 template_set: str | Sequence[str] = 'vild14',
                 text_cache_dir: str | None = None, test_cfg: dict | None = None,
                 train_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None,
                 mask_adapter: nn.Module | dict | None = None, mask_threshold: float = 0.5,
                 adapter_training: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        stats_from_backbone = takes_backbone_statistics(data_preprocessor)
        if data_preprocessor is None:
            data_preprocessor = dict(type='ovperception.OVDataPreprocessor', pad_size_divisor=32)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = _build(backbone)
        if stats_from_backbone:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        embed_dim = int(self.backbone.embed_dim)
        self.pixel_decoder = _build(pixel_decoder, in_channels=self.backbone.stage_channels)
        self.mask_decoder = _build(mask_decoder, in_channels=self.pixel_decoder.conv_dim,
                                   mask_dim=self.pixel_decoder.mask_dim, embed_dim=embed_dim)
        self.criterion = _build(criterion or dict(type='ovperception.MaskSetCriterion'))
        self.content_transfer = _build(content_transfer, embed_dim=embed_dim)
        self.mask_adapter = _build(mask_adapter, clip_dim=embed_dim)
        self.mask_threshold = float(mask_threshold)
        if content_transfer_scope not in ('both', 'out_vocabulary'):
            raise ValueError(f"content_transfer_scope must be 'both' or 'out_vocabulary', got "
                             f'{content_transfer_scope!r}')
        self.content_transfer_scope = content_transfer_scope
        self.void_embedding = nn.Parameter(torch.randn(embed_dim) / math.sqrt(embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        if isinstance(seen_classnames, str):
            from ovperception.models.clip.classnames import load_classnames
            seen_classnames = load_classnames(seen_classnames)
        self.seen_names = frozenset(n.lower() for entry in (seen_classnames or ())
                                    for n in split_synonyms(entry))
        self.alpha, self.beta = float(alpha), float(beta)
        self.ensemble_on_valid_mask = bool(ensemble_on_valid_mask)
        self.template_set = template_set
        self.text_cache_dir = text_cache_dir
        self.background_words: tuple[str, ...] = ()
        self.shared_names = False  # OVModel's vocabulary methods read it
        self._text_cache = None
        self._vocab_memo: OrderedDict = OrderedDict()
        self.test_cfg = with_defaults(test_cfg, DEFAULT_TEST_CFG, 'test_cfg')
        self.train_cfg = dict(train_cfg or {})
        self.adapter_training = self._adapter_training_cfg(adapter_training)

    def _adapter_training_cfg(self, cfg: dict | None) -> dict | None:
        """Validated Mask-Adapter training settings; freezes all but the adapter and void."""
        if cfg is None:
            return None
        if self.mask_adapter is None:
            raise ValueError('adapter_training needs a mask_adapter')
        merged = with_defaults(cfg, ADAPTER_TRAINING_DEFAULTS, 'adapter_training')
        for name, parameter in self.named_parameters():
            parameter.requires_grad = (name.startswith('mask_adapter.')
                                       or name == 'void_embedding')
        self.trained_from_scratch = ('mask_adapter.',)  # --weights may be a plain FC-CLIP
        return merged

    @property
    def is_trainable(self) -> bool:
        """Whether any parameter would receive a gradient."""
        return any(p.requires_grad for p in self.parameters())

    # ------------------------------------------------------------------ features
    def backbone_features(self, inputs: Tensor) -> dict[str, Tensor]:
        """(B, 3, H, W) -> ``res2`` .. ``res5`` trunk features (no gradient when frozen)."""
        if any(p.requires_grad for p in self.backbone.parameters()):
            return self.backbone.multiscale_features(inputs)
        with torch.no_grad():
            return self.backbone.multiscale_features(inputs)

    def decode_queries(self, features: dict[str, Tensor],
                       every_class: bool = True) -> list[tuple[Tensor, Tensor]]:
        """Per decoder output: ((B, Q, C) class embeddings, (B, Q, H/4, W/4) mask logits);
        ``every_class=False``: class embeddings of the last output only (others None)."""
        mask_features, levels = self.pixel_decoder(features)
        return self.mask_decoder(levels, mask_features, every_class=every_class)

    def class_text(self, text: TextEmbeddings, res5: Tensor,
                   in_vocabulary: bool = False) -> Tensor:
        """(B, N, C) per-image text embeddings: CLIP's, or content-adapted (MAFT+ CDT) -
        for the in-vocabulary classifier only when ``content_transfer_scope='both'``."""
        embeddings = text.embeddings.to(res5.dtype)
        if self.content_transfer is None or (
                in_vocabulary and self.content_transfer_scope == 'out_vocabulary'):
            return embeddings[None].expand(res5.shape[0], -1, -1)
        dense = self.backbone.project_trunk_features(res5)
        return self.content_transfer(embeddings, dense)

    def in_vocabulary_logits(self, class_embeds: Tensor, names: Tensor,
                             text: TextEmbeddings, scale: Tensor | float | None = None
                             ) -> Tensor:
        """(B, Q, C) class embeddings vs (B, N, C) names + void -> (B, Q, K + 1) logits,
        scaled by ``scale`` (None: the learnt logit scale, clamped to 100)."""
        queries = F.normalize(class_embeds, dim=-1)
        if scale is None:
            scale = self.logit_scale.exp().clamp(max=100.0)
        name_logits = scale * torch.einsum('bqc,bnc->bqn', queries, names)
        void = scale * queries @ F.normalize(self.void_embedding, dim=0)
        return torch.cat([text.reduce_synonyms(name_logits, dim=-1), void[..., None]], dim=-1)

    def out_vocabulary_logits(self, res5: Tensor, mask_logits: Tensor, names: Tensor,
                              text: TextEmbeddings) -> tuple[Tensor, Tensor]:
        """Frozen CLIP pooled under each mask vs names -> ((B, Q, K) logits, (B, Q) valid).

        ConvNeXt: ``res5`` averaged under the binarised mask, then the CLIP head; ResNet:
        CLIP's attention pool with the attention restricted to the mask (as released);
        with a Mask-Adapter: ``res5`` pooled by each of its activation maps, the CLIP head,
        the mean over the maps of a mask (every mask valid).
        """
        if self.mask_adapter is not None:
            projected = self.adapter_embeddings(res5, mask_logits)
            valid = torch.ones(projected.shape[:2], dtype=torch.bool, device=projected.device)
        else:
            projected, valid = self._mask_pooled_embeddings(res5, mask_logits)
        name_logits = text.logit_scale * torch.einsum(
            'bqc,bnc->bqn', F.normalize(projected, dim=-1), names)
        return text.reduce_synonyms(name_logits, dim=-1), valid

    def _mask_pooled_embeddings(self, res5: Tensor, mask_logits: Tensor
                                ) -> tuple[Tensor, Tensor]:
        """(B, C5, h, w) trunk features pooled under (B, Q, H, W) mask logits through CLIP's
        head -> ((B, Q, C) embeddings, (B, Q) valid)."""
        masks = F.interpolate(mask_logits, size=res5.shape[-2:], mode='bilinear',
                              align_corners=False)
        pooled, valid = mask_pool(res5, masks)
        if getattr(self.backbone, 'kind', None) == 'resnet':
            return masked_attention_pool(self.backbone.visual.attnpool, res5, masks), valid
        return self._project_pooled(pooled), valid

    def _project_pooled(self, pooled: Tensor) -> Tensor:
        """(B, N, C5) pooled trunk features -> CLIP's head -> (B, N, C)."""
        batch, count, channels = pooled.shape
        return self.backbone.project_trunk_features(
            pooled.reshape(batch * count, channels, 1, 1)).reshape(batch, count, -1)

    def adapter_embeddings(self, res5: Tensor, mask_logits: Tensor) -> Tensor:
        """Mask-Adapter: (B, C5, h, w) trunk features, (B, Q, H, W) mask logits -> (B, Q, C)
        mask embeddings in the joint space (of the binarised masks)."""
        return self.adapter_mask_embeddings(res5, mask_logits.sigmoid() > self.mask_threshold)

    def adapter_mask_embeddings(self, res5: Tensor, masks: Tensor) -> Tensor:
        """Mask-Adapter: (B, C5, h, w) trunk features, (B, Q, H, W) binary (or soft) masks
        -> (B, Q, C) mask embeddings in the joint space."""
        with torch.no_grad():
            dense = self.backbone.project_trunk_features(res5)
        maps = self.mask_adapter(dense, masks)
        projected = self._project_pooled(activation_pooling(maps, res5))
        batch, count = projected.shape[:2]
        queries = masks.shape[1]
        return projected.view(batch, queries, count // queries, -1).mean(dim=2)

    def _check_vocabulary(self, text: TextEmbeddings) -> None:
        if text.vocabulary.has_virtual_background:
            raise ValueError('FC-CLIP has its own void class; background words are not used')

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """Set losses of every decoder output, each vocabulary group weighted by its size
        (with ``adapter_training``: the Mask-Adapter's losses instead)."""
        if self.adapter_training is not None:
            return self.adapter_loss(inputs, data_samples)
        features = self.backbone_features(inputs)
        outputs = self.decode_queries(features)
        totals: dict[str, Tensor] = {}
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames).to(inputs.device)
            self._check_vocabulary(text)
            names = self.class_text(text, features['res5'][indices], in_vocabulary=True)
            group_outputs = [(self.in_vocabulary_logits(embeds[indices], names, text),
                              masks[indices]) for embeds, masks in outputs]
            targets = [segment_targets(data_samples[i], inputs.shape[-2:], len(classnames),
                                       inputs.device)
                       for i in indices]
            add_group_losses(totals, self.criterion(group_outputs, targets),
                             len(indices) / len(data_samples))
        return totals

    def adapter_loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """Mask-Adapter mixed-mask losses (frozen CLIP and segmenter), each vocabulary group
        weighted by its size."""
        cfg = self.adapter_training
        with torch.no_grad():
            features = self.backbone_features(inputs)
            mask_logits = (self.decode_queries(features, every_class=False)[-1][1]
                           if cfg['num_pred_masks'] else [None] * len(inputs))
        totals: dict[str, Tensor] = {}
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames).to(inputs.device)
            self._check_vocabulary(text)
            mixed = []
            for i in indices:
                target = segment_targets(data_samples[i], inputs.shape[-2:], len(classnames),
                                         inputs.device)
                mixed.append(mixed_masks(
                    mask_logits[i], target.masks, target.labels,
                    num_gt_masks=cfg['num_gt_masks'], num_pred_masks=cfg['num_pred_masks'],
                    iou_threshold=cfg['iou_threshold'], mask_threshold=self.mask_threshold))
            masks = torch.stack([m.masks for m in mixed])
            labels = torch.stack([m.labels for m in mixed])
            embeds = self.adapter_mask_embeddings(features['res5'][indices], masks)
            names = self.class_text(text, features['res5'][indices])
            logits = self.in_vocabulary_logits(embeds, names, text, scale=text.logit_scale)
            losses = mask_adapter_losses(logits, labels, embeds, cfg['num_gt_masks'],
                                         cfg['num_pred_masks'], cfg['class_weight'],
                                         cfg['cosine_weight'])
            add_group_losses(totals, losses, len(indices) / len(data_samples))
        return totals

    @torch.no_grad()
    def class_probabilities(self, features: dict[str, Tensor], class_embeds: Tensor,
                            mask_logits: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, Q, K + 1) ensembled probabilities of one vocabulary group (void last)."""
        in_logits = self.in_vocabulary_logits(
            class_embeds, self.class_text(text, features['res5'], in_vocabulary=True), text)
        if self.alpha == 0 and self.beta == 0:
            return in_logits.softmax(-1)
        names = self.class_text(text, features['res5'])
        out_logits, valid = self.out_vocabulary_logits(features['res5'], mask_logits, names, text)
        seen = seen_class_mask(text.vocabulary.entries, self.seen_names)
        probs = geometric_ensemble(in_logits, out_logits, seen, self.alpha, self.beta,
                                   valid if self.ensemble_on_valid_mask else None)
        # the released inference takes softmax(log(p + 1e-8)) of these probabilities
        probs = probs + 1e-8
        return probs / probs.sum(-1, keepdim=True)

    @torch.no_grad()
    def encode_images(self, inputs: Tensor,
                      data_samples: SampleList | None = None) -> EncodedQueries:
        """The vocabulary-independent part: backbone, pixel decoder and mask decoder (so
        ``OVPredictor`` answers many vocabularies per image at the cost of one)."""
        features = self.backbone_features(inputs)
        class_embeds, mask_logits = self.decode_queries(features, every_class=False)[-1]
        return EncodedQueries(features['res5'], class_embeds, mask_logits,
                              tuple(inputs.shape[-2:]))

    @torch.no_grad()
    def decode(self, encoded: EncodedQueries, data_samples: SampleList) -> list[OVDataSample]:
        """Classify the encoded proposals with each sample's vocabulary; fill ``pred_*``."""
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames).to(encoded.res5.device)
            self._check_vocabulary(text)
            probs = self.class_probabilities(
                {'res5': encoded.res5[indices]}, encoded.class_embeds[indices],
                encoded.mask_logits[indices], text)
            for row, index in enumerate(indices):
                sample = data_samples[index]
                if not self._postprocess_before_inference():
                    self._fill_semantic_at_input_size(sample, probs[row].float(),
                                                      encoded.mask_logits[index],
                                                      encoded.padded_size, text)
                    continue
                masks = self._masks_at_original_size(encoded.mask_logits[index],
                                                     encoded.padded_size, sample)
                self._fill_sample(sample, probs[row].float(), masks, text)
        return list(data_samples)

    def _postprocess_before_inference(self) -> bool:
        cfg = self.test_cfg
        before = cfg['semantic_postprocess_before_inference']
        if before is None:
            before = cfg['panoptic_on'] or cfg['instance_on']
        if not before and (cfg['panoptic_on'] or cfg['instance_on']):
            raise ValueError('semantic_postprocess_before_inference=False supports semantic '
                             'output only (panoptic_on=False, instance_on=False)')
        return bool(before)

    @staticmethod
    def semantic_scores_at_input_size(probs: Tensor, mask_logits: Tensor,
                                      padded: tuple[int, int], sample: OVDataSample,
                                      chunk: int = 64) -> Iterator[tuple[int, Tensor]]:
        """Yield ``(first class, (k, H_ori, W_ori) scores)`` per chunk of classes: scores at
        the padded input size (mask logits resized, sigmoid, weighted by the class
        probabilities), cropped to ``img_shape`` and resized to ``ori_shape``."""
        height, width = sample.metainfo.get('img_shape', padded)[:2]
        ori = tuple(sample.metainfo.get('ori_shape', (height, width))[:2])
        mask_probs = F.interpolate(mask_logits[None].float(), size=tuple(padded),
                                   mode='bilinear', align_corners=False)[0].sigmoid()
        for start in range(0, probs.shape[-1] - 1, chunk):
            part = probs[:, start:min(start + chunk, probs.shape[-1] - 1)]
            scores = torch.einsum('qk,qhw->khw', part, mask_probs)[:, :height, :width]
            if ori != (height, width):
                scores = F.interpolate(scores[None], size=ori, mode='bilinear',
                                       align_corners=False)[0]
            yield start, scores

    def _fill_semantic_at_input_size(self, sample: OVDataSample, probs: Tensor,
                                     mask_logits: Tensor, padded: tuple[int, int],
                                     text: TextEmbeddings, chunk: int = 64) -> None:
        """The released semantic-only path: per-class scores at the padded input size, then
        cropped to the image and resized (bilinear) to ``ori_shape``; argmax over classes in
        chunks of ``chunk`` classes so memory stays bounded for large vocabularies."""
        if not bool(torch.isfinite(probs).all()):
            raise FloatingPointError(f'non-finite predictions for '
                                     f'{sample.metainfo.get("img_path", "a sample")}: check '
                                     'the weights (a NaN checkpoint?) and the input image')
        best = labels = None
        for start, scores in self.semantic_scores_at_input_size(probs, mask_logits, padded,
                                                                sample, chunk):
            value, index = scores.max(0)
            if best is None:
                best, labels = value, index
            else:
                better = value > best
                best = torch.where(better, value, best)
                labels = torch.where(better, index + start, labels)
        sample.pred_sem_seg = PixelData(data=labels[None])
        sample.set_metainfo(dict(label_names=text.class_names))

    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Semantic (``pred_sem_seg``), panoptic (``pred_panoptic_seg``) and instance
        (``pred_instances``) predictions at each sample's ``ori_shape``."""
        return self.decode(self.encode_images(inputs, data_samples), data_samples)

    @staticmethod
    def _masks_at_original_size(mask_logits: Tensor, padded: tuple[int, int],
                                sample: OVDataSample) -> Tensor:
        """(Q, H/4, W/4) -> (Q, H_ori, W_ori): to the padded input, crop, resize."""
        height, width = sample.metainfo.get('img_shape', padded)[:2]
        masks = F.interpolate(mask_logits[None].float(), size=tuple(padded), mode='bilinear',
                              align_corners=False)[..., :height, :width]
        ori = tuple(sample.metainfo.get('ori_shape', (height, width))[:2])
        if ori != (height, width):
            masks = F.interpolate(masks, size=ori, mode='bilinear', align_corners=False)
        return masks[0]

    def _fill_sample(self, sample: OVDataSample, probs: Tensor, masks: Tensor,
                     text: TextEmbeddings) -> None:
        if not bool(torch.isfinite(probs).all() and torch.isfinite(masks).all()):
            raise FloatingPointError(f'non-finite predictions for '
                                     f'{sample.metainfo.get("img_path", "a sample")}: check '
                                     'the weights (a NaN checkpoint?) and the input image')
        cfg = self.test_cfg
        is_thing = sample.metainfo.get('is_thing')
        if cfg['semantic_on']:
            labels = semantic_inference(probs, masks).argmax(0)
            sample.pred_sem_seg = PixelData(data=labels[None])
        if cfg['panoptic_on']:
            panoptic, segments = panoptic_inference(
                probs, masks, is_thing, object_mask_threshold=cfg['object_mask_threshold'],
                overlap_threshold=cfg['overlap_threshold'])
            sample.pred_panoptic_seg = PixelData(data=panoptic[None])
            sample.set_metainfo(dict(segments_info=segments))
        if cfg['instance_on']:
            sample.pred_instances = instance_inference(probs, masks, is_thing,
                                                       max_instances=cfg['max_instances'])
        sample.set_metainfo(dict(label_names=text.class_names))

    def _forward(self, inputs: Tensor, data_samples: SampleList | None = None) -> Any:
        """Tensor mode: the decoder's raw per-query outputs (no vocabulary needed)."""
        return self.decode_queries(self.backbone_features(inputs))
