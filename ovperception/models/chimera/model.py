"""Chimera-Seg training: pixel cross-entropy on seen classes + SGD + semantic alignment."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.chimera.losses import (class_region_features,
                                                selective_global_distillation,
                                                semantic_alignment_loss, sgd_keep_ratio)
from ovperception.models.ov_model import OVModel, add_group_losses
from ovperception.registry import MODELS
from ovperception.structures import SampleList


@MODELS.register_module()
class ChimeraSeg(OVModel):
    """``OVModel`` whose ``loss`` trains a :class:`ChimeraBackbone` for zero-shot segmentation.

    Losses (each vocabulary group weighted by its share of the batch, as ``OVModel.loss``):

    * ``loss_seg``: the head's pixel cross-entropy of cosine logits on the (seen) classes;
    * ``loss_sgd`` (Selective Global Distillation): the frozen CLIP's global embedding of the
      training crop (resized to ``teacher_size``) is distilled into the fraction
      ``sgd_keep_ratio`` of the dense features most similar to it; the fraction falls
      linearly from ``sgd_start_ratio`` to ``sgd_end_ratio`` over ``sgd_steps`` training
      steps (counted in a saved buffer, so a resumed run continues the schedule);
    * ``loss_sam`` (Semantic Alignment): the mean feature of every labelled class region is
      classified against the text embeddings of the vocabulary (cross-entropy).

    Args:
        backbone: a ``ChimeraBackbone`` (or config).
        head: a ``DenseSimilarityHead`` (or config): cosine logits and prediction.
        sgd_weight, sam_weight: loss weights (``loss_seg`` has weight 1).
        sgd_start_ratio, sgd_end_ratio, sgd_steps: the SGD selection schedule.
        teacher_size: side of the crop the CLIP teacher sees (None: the crop as it is).
        **kwargs: ``OVModel`` options.
    """

    def __init__(self, backbone: nn.Module | dict, head: nn.Module | dict, *,
                 sgd_weight: float = 1.0, sam_weight: float = 0.1,
                 sgd_start_ratio: float = 1.0, sgd_end_ratio: float = 0.1,
                 sgd_steps: int = 20000, teacher_size: int | None = 224, **kwargs) -> None:
        super().__init__(backbone, head, **kwargs)
        if not hasattr(self.backbone, 'head_blocks'):
            raise TypeError('ChimeraSeg needs a ChimeraBackbone, got '
                            f'{type(self.backbone).__name__}')
        for name, ratio in (('sgd_start_ratio', sgd_start_ratio),
                            ('sgd_end_ratio', sgd_end_ratio)):
            if not 0.0 < ratio <= 1.0:
                raise ValueError(f'{name} must lie in (0, 1], got {ratio}')
        if sgd_weight < 0 or sam_weight < 0 or sgd_steps < 0:
            raise ValueError('sgd_weight, sam_weight and sgd_steps must be >= 0')
        self.sgd_weight, self.sam_weight = float(sgd_weight), float(sam_weight)
        self.sgd_start_ratio, self.sgd_end_ratio = float(sgd_start_ratio), float(sgd_end_ratio)
        self.sgd_steps = int(sgd_steps)
        if teacher_size is not None and int(teacher_size) <= 0:
            raise ValueError(f'teacher_size must be positive or None, got {teacher_size}')
        self.teacher_size = None if teacher_size is None else int(teacher_size)
        self.register_buffer('sgd_step', torch.zeros((), dtype=torch.long))

    @property
    def keep_ratio(self) -> float:
        """The SGD fraction at the current training step."""
        return sgd_keep_ratio(int(self.sgd_step), self.sgd_steps, self.sgd_start_ratio,
                              self.sgd_end_ratio)

    def global_targets(self, inputs: Tensor) -> Tensor:
        """(B, C) frozen CLIP global embeddings of the (B, 3, H, W) normalised crops."""
        if self.teacher_size is not None and tuple(inputs.shape[-2:]) != (self.teacher_size,) * 2:
            inputs = F.interpolate(inputs, size=(self.teacher_size, self.teacher_size),
                                   mode='bilinear', align_corners=False)
        with torch.no_grad():
            return self.backbone.image_embedding(inputs)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """``loss_seg``, ``loss_sgd`` and ``loss_sam`` of a labelled (seen-class) batch."""
        feats = self.backbone.dense_features(inputs)
        totals: dict[str, Tensor] = {}
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames, device=inputs.device)
            group = [data_samples[i] for i in indices]
            losses = dict(self.head.loss(feats[indices], text, group))
            labels = torch.stack([s.gt_sem_seg.data[0] for s in group]).long().to(inputs.device)
            pooled, classes = class_region_features(feats[indices], labels, text.num_classes)
            if len(classes):
                logits = self.head.class_logits(self.head(pooled[..., None, None], text), text)
                losses['loss_sam'] = self.sam_weight * semantic_alignment_loss(
                    logits[:, :text.num_classes, 0, 0], classes)
            else:
                losses['loss_sam'] = feats.sum() * 0.0
            add_group_losses(totals, losses, len(indices) / len(data_samples))
        totals['loss_sgd'] = self.sgd_weight * selective_global_distillation(
            feats, self.global_targets(inputs), self.keep_ratio)
        if self.training:
            self.sgd_step += 1
        return totals
