"""CLIP-EBC: blockwise classification of object counts against per-bin text prompts.

For every block of ``block_size`` pixels the head scores its (adapted, L2-normalised)
CLIP feature ``f`` against one sentence per count bin, ``t_b`` = "There are two people.":

    logits_b = s * cos(f, t_b),     p = softmax(logits),     c_block = sum_b p_b * r_b

with a learnable temperature ``s`` (initialised to 1/0.07) and bin representatives
``r_b``; the density map is the block-count map and the count its sum. As in CLIP-EBC
(``models/clip/model.py``), the block features come from the CLIP encoder (ln_post patch
tokens of a ViT with visual prompts, or ResNet layer4 at stride 16), are bilinearly resized
to the block grid, pass a ResNet decoder block (BasicBlock for ViTs, Bottleneck for ResNets)
and a learned 1x1 projection into CLIP's embedding space. The loss is CLIP-EBC's DACE loss:
the cross-entropy of the block bin labels summed over blocks (mean over images) plus
``count_loss_weight`` x a count loss, DMCount's OT + TV + count loss by default
(``count_loss='dmcount'``, see :mod:`dm_loss`); ``'mae'`` / ``'mse'`` are CLIP-EBC's
block-wise alternatives and ``'l1'`` (ours) an L1 on image totals. The block targets are
CLIP-EBC's: the block sums of its one-pixel density map, where a pixel holding several
annotations holds 1 (``density_target='official'``); ``'points'`` counts every annotation.

Open vocabulary: every class of a sample's vocabulary gets its own bin prompts and its
own density map, so one head counts ``"person"``, ``"car"`` ... without retraining.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.clip.vocabulary import TextEmbeddings, split_synonyms
from ovperception.models.base_head import BaseOVHead
from ovperception.models.counting.count_bins import (EBC_BINS_T4, CountBins,
                                                  points_to_block_counts,
                                                  points_to_density_target)
from ovperception.models.counting.decoder import build_decoder, init_like_clip_ebc
from ovperception.models.counting.dm_loss import dm_count_loss
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

COUNT_LOSSES = ('dmcount', 'mae', 'mse', 'l1', None)
DENSITY_TARGETS = ('official', 'points')


def block_sum(density: Tensor, block_size: int) -> Tensor:
    """Sum a (K, H, W) per-pixel density over ``block_size`` blocks -> (K, ceil(H/b), ceil(W/b))."""
    pad_h, pad_w = -density.shape[-2] % block_size, -density.shape[-1] % block_size
    padded = F.pad(density, (0, pad_w, 0, pad_h))
    return F.avg_pool2d(padded[None], block_size)[0] * block_size ** 2


@MODELS.register_module()
class BlockwiseCountingHead(BaseOVHead):
    """CLIP-EBC head: per-block count-bin classification with text prompts.

    The encoder features (stride ``feature_stride``) are resampled to the block grid
    (stride ``block_size``; bilinear up-sampling, as CLIP-EBC, or average pooling when blocks
    are larger than the stride), pass the optional ``decoder`` (CLIP-EBC's residual blocks)
    and ``projection`` (a learned 1x1 conv to ``embed_dim``, CLIP-EBC's ``projection``) and
    are compared with the bin prompts. ``hidden_channels > 0`` adds our residual 1x1 adapter
    (zero-initialised) instead, for frozen joint-space features.

    ``forward`` returns the per-pixel density (expected block count / block area) so that
    ``OVModel`` can stitch sliding windows at :attr:`output_stride` without changing the
    total; ``predict`` sums it back into block counts.

    Use it inside ``OVModel`` with ``template_set=['{}']``: :meth:`vocabulary_prompts`
    turns each class into full sentences, which must be encoded verbatim.

    Args:
        in_channels: C of the features the backbone gives (CLIP-EBC: 768 ViT-B/16 tokens,
            2048 RN50 layer4 channels; the joint-space width for frozen dense features).
        feature_stride: output stride of the backbone (16 for CLIP-EBC's encoders).
        block_size: block side in pixels (CLIP-EBC's ``reduction``, 8).
        bins: integer bins, see :class:`CountBins` (default ``truncation=4``).
        representatives: ``'middle'`` or one count per bin (CLIP-EBC ``'average'``).
        prompt_type: ``'word'`` or ``'number'``.
        prompts: overrides of the sentence templates (``count_bins.DEFAULT_PROMPTS``).
        decoder_block: ``'basic'`` | ``'bottleneck'`` | None (CLIP-EBC: basic for ViTs,
            bottleneck for ResNets).
        decoder_channels: output channels of each decoder block (CLIP-EBC: ``[768]`` for
            ViT-B/16, ``[2048]`` for RN50).
        embed_dim: CLIP's embedding width; a learned 1x1 projection maps the decoder output to
            it when the widths differ (CLIP-EBC); None keeps the width.
        hidden_channels: width of our residual adapter; 0 disables it.
        logit_scale: initial temperature (CLIP-EBC: 1/0.07), learnable.
        count_loss: ``'dmcount'`` (CLIP-EBC's default) | ``'mae'`` | ``'mse'`` (CLIP-EBC's
            block-wise sums) | ``'l1'`` (ours: L1 of image totals) | None.
        count_loss_weight: weight of the count loss next to the cross-entropy.
        dm_loss_cfg: overrides of :func:`dm_loss.dm_count_loss` (``weight_ot`` 0.1,
            ``weight_tv`` 0.01, ``reg`` 10, ``num_iter`` 100).
        density_target: block targets of the bin labels and block-wise count losses:
            ``'official'`` (CLIP-EBC: :func:`count_bins.points_to_density_target`, one mark
            per annotated pixel, points clamped to the image) or ``'points'`` (ours: every
            annotation counts, points outside the image are dropped); DMCount's count term
            counts every annotation in both (as CLIP-EBC).
    """

    def __init__(self, in_channels: int, *, feature_stride: int = 16, block_size: int = 8,
                 bins: Sequence[Sequence[float]] = EBC_BINS_T4,
                 representatives: str | Sequence[float] = 'middle',
                 prompt_type: str = 'word', prompts: dict[str, str] | None = None,
                 decoder_block: str | None = None, decoder_channels: Sequence[int] = (),
                 embed_dim: int | None = None, hidden_channels: int = 0,
                 logit_scale: float = 1 / 0.07, count_loss: str | None = 'dmcount',
                 count_loss_weight: float = 1.0, dm_loss_cfg: dict | None = None,
                 density_target: str = 'official') -> None:
        super().__init__()
        if count_loss not in COUNT_LOSSES:
            raise ValueError(f'count_loss must be one of {COUNT_LOSSES}, got {count_loss!r}')
        if density_target not in DENSITY_TARGETS:
            raise ValueError(f'density_target must be one of {DENSITY_TARGETS}, got '
                             f'{density_target!r}')
        self.density_target = density_target
        if feature_stride <= 0 or block_size <= 0 or (
                feature_stride % block_size and block_size % feature_stride):
            raise ValueError(f'block_size {block_size} and feature_stride {feature_stride} '
                             'must be positive and one must divide the other')
        if decoder_block is not None and hidden_channels > 0:
            raise ValueError('use either the CLIP-EBC decoder (decoder_block) or the adapter '
                             '(hidden_channels), not both')
        self.bins = CountBins.build(bins, representatives)
        # validates the templates early (a fixed plural: no inflect import at build time)
        self.bins.prompts('object', prompts, prompt_type, plural_name='objects')
        self.feature_stride, self.block_size = int(feature_stride), int(block_size)
        self.prompt_type, self.prompt_templates = prompt_type, dict(prompts or {})
        self.count_loss, self.count_loss_weight = count_loss, float(count_loss_weight)
        self.dm_loss_cfg = dict(dm_loss_cfg or {})
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale)))
        channels = in_channels
        self.decoder: nn.Module | None = None
        if decoder_block is not None:
            self.decoder = build_decoder(decoder_block, in_channels, decoder_channels)
            channels = list(decoder_channels)[-1] if len(decoder_channels) else in_channels
        self.projection: nn.Module | None = None
        if embed_dim is not None and embed_dim != channels:
            self.projection = nn.Conv2d(channels, embed_dim, 1)
            init_like_clip_ebc(self.projection)
        self.adapter: nn.Module | None = None
        if hidden_channels > 0:
            self.adapter = nn.Sequential(nn.Conv2d(in_channels, hidden_channels, 1), nn.GELU(),
                                         nn.Conv2d(hidden_channels, in_channels, 1))
            nn.init.zeros_(self.adapter[-1].weight)
            nn.init.zeros_(self.adapter[-1].bias)

    # ------------------------------------------------------------------ text
    @property
    def output_stride(self) -> int:
        """Pixels per cell of :meth:`forward`'s output (read by ``OVModel.decode``)."""
        return self.block_size

    def vocabulary_prompts(self, classnames: Sequence[str]) -> list[str]:
        """Bin sentences of every class, class-major (K x num_bins); first synonym used."""
        return [sentence for entry in classnames
                for sentence in self.bins.prompts(split_synonyms(entry)[0],
                                                  self.prompt_templates, self.prompt_type)]

    def num_classes(self, text: TextEmbeddings) -> int:
        """K classes of a vocabulary encoded through :meth:`vocabulary_prompts`."""
        num_names = text.embeddings.shape[0]
        if num_names % self.bins.num_bins:
            raise ValueError(
                f'{num_names} text embeddings are not {self.bins.num_bins} bin prompts per '
                'class: build BlockwiseCountingHead inside OVModel, which encodes '
                'head.vocabulary_prompts(classnames)')
        return num_names // self.bins.num_bins

    # ---------------------------------------------------------------- blocks
    def block_features(self, feats: Tensor) -> Tensor:
        """(B, C, h, w) at ``feature_stride`` -> (B, D, h', w') L2-normalised at
        ``block_size`` (resample, decoder, projection or adapter)."""
        if self.feature_stride > self.block_size:
            factor = self.feature_stride // self.block_size
            feats = F.interpolate(feats, scale_factor=factor, mode='bilinear',
                                  align_corners=False)
        elif self.feature_stride < self.block_size:
            feats = F.avg_pool2d(feats, self.block_size // self.feature_stride, ceil_mode=True)
        if self.decoder is not None:
            feats = self.decoder(feats)
        if self.projection is not None:
            feats = self.projection(feats)
        if self.adapter is not None:
            feats = feats + self.adapter(feats)
        return F.normalize(feats, dim=1)

    def bin_logits(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """Bin logits of every block and class.

        Args:
            feats: (B, C, h, w) dense CLIP features.
            text: (K * num_bins, C) prompt embeddings.

        Returns:
            (B, K, num_bins, h', w') logits.
        """
        num_classes = self.num_classes(text)
        blocks = self.block_features(feats)
        embeddings = F.normalize(text.embeddings.to(blocks.device, blocks.dtype), dim=-1)
        logits = torch.einsum('bchw,nc->bnhw', blocks, embeddings) * self.log_logit_scale.exp()
        return logits.unflatten(1, (num_classes, self.bins.num_bins))

    def block_counts(self, logits: Tensor) -> Tensor:
        """(B, K, num_bins, h', w') logits -> (B, K, h', w') expected block counts."""
        return self.bins.expected_count(logits.softmax(dim=2), dim=2)

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, C, h, w) -> (B, K, h', w') per-pixel density (block count / block area)."""
        return self.block_counts(self.bin_logits(feats, text)) / self.block_size ** 2

    # ------------------------------------------------------------------ loss
    @staticmethod
    def annotated_points(sample: OVDataSample) -> tuple[Tensor, Tensor | None]:
        """``gt_instances.points`` (N, 2) and ``labels`` (N,) or None; KeyError if absent."""
        if 'gt_instances' not in sample or 'points' not in sample.gt_instances:
            raise KeyError(f'sample {sample.metainfo.get("img_path", "")!r} has no '
                           'gt_instances.points: counting needs point annotations')
        instances = sample.gt_instances
        return instances.points, instances.labels if 'labels' in instances else None

    def targets(self, data_samples: SampleList, num_classes: int,
                grid: tuple[int, int], device: torch.device) -> tuple[Tensor, Tensor]:
        """Block counts (B, K, h', w') from ``gt_instances.points`` and a valid-block mask.

        The counts follow ``density_target``. Blocks that lie wholly in the batch padding
        (outside ``img_shape``) are invalid.
        """
        counts, valid = [], []
        padded = (grid[0] * self.block_size, grid[1] * self.block_size)
        for sample in data_samples:
            points, labels = self.annotated_points(sample)
            height, width = sample.metainfo.get('img_shape', padded)[:2]
            if self.density_target == 'official':
                counts.append(points_to_density_target(
                    points.to(device), (int(height), int(width)), self.block_size, labels,
                    num_classes, grid_size=padded))
            else:
                counts.append(points_to_block_counts(points.to(device), padded,
                                                     self.block_size, labels, num_classes))
            mask = torch.zeros(grid, dtype=torch.bool, device=device)
            mask[:-(-int(height) // self.block_size), :-(-int(width) // self.block_size)] = True
            valid.append(mask)
        return torch.stack(counts), torch.stack(valid)

    def loss(self, feats: Tensor, text: TextEmbeddings,
             data_samples: SampleList) -> dict[str, Tensor]:
        """CLIP-EBC's DACE loss: block-bin cross-entropy summed over the valid blocks (and
        classes), averaged over images, + ``count_loss_weight`` x the count loss.

        Returns:
            ``loss_cls``, ``loss_count`` and, for DMCount, its unweighted parts ``dm_ot``,
            ``dm_tv``, ``dm_count`` (logged, not summed: their names hold no ``loss``).
        """
        logits = self.bin_logits(feats, text)
        batch, num_classes, num_bins, rows, cols = logits.shape
        counts, valid = self.targets(data_samples, num_classes, (rows, cols), logits.device)
        labels = self.bins.labels(counts)
        mask = valid[:, None].expand_as(labels)
        flat_logits = logits.permute(0, 1, 3, 4, 2)[mask]
        losses = dict(loss_cls=F.cross_entropy(flat_logits, labels[mask],
                                               reduction='sum') / batch)
        if self.count_loss is None:
            return losses
        predicted = self.block_counts(logits) * valid[:, None]  # (B, K, h', w')
        target = counts * valid[:, None]
        if self.count_loss == 'dmcount':
            parts = self._dm_count_loss(predicted, target, data_samples)
            losses['loss_count'] = self.count_loss_weight * parts['total']
            losses.update({f'dm_{key}': parts[key].detach() for key in ('ot', 'tv', 'count')})
        elif self.count_loss == 'l1':
            losses['loss_count'] = self.count_loss_weight * F.l1_loss(
                predicted.sum((-2, -1)), target.sum((-2, -1)))
        else:
            error = F.l1_loss if self.count_loss == 'mae' else F.mse_loss
            losses['loss_count'] = self.count_loss_weight * error(
                predicted, target, reduction='sum') / batch
        return losses

    def _dm_count_loss(self, predicted: Tensor, target: Tensor,
                       data_samples: SampleList) -> dict[str, Tensor]:
        """DMCount per class (points of that class), summed over classes."""
        total: dict[str, Tensor] = {}
        for label in range(predicted.shape[1]):
            points = []
            for sample in data_samples:
                sample_points, labels = self.annotated_points(sample)
                if labels is not None:
                    sample_points = sample_points[labels.to(sample_points.device) == label]
                elif label > 0:
                    sample_points = sample_points[:0]
                points.append(sample_points.reshape(-1, 2).to(predicted.device))
            parts = dm_count_loss(predicted[:, label], target[:, label], points,
                                  self.block_size, **self.dm_loss_cfg)
            total = {key: total.get(key, 0) + value for key, value in parts.items()}
        return total

    # --------------------------------------------------------------- predict
    def predict(self, outputs: list[Tensor], text: TextEmbeddings,
                data_samples: SampleList) -> list[OVDataSample]:
        """Block density maps and counts from stitched per-pixel densities (K, H, W).

        Sets ``pred_density.data`` (K, ceil(H/b), ceil(W/b)) block counts at the working
        resolution, ``pred_count`` (K,) and metainfo ``label_names`` and ``density_stride``
        (pixels of the working image per density cell).
        """
        for density, sample in zip(outputs, data_samples):
            blocks = block_sum(density.float(), self.block_size)
            sample.pred_density = PixelData(data=blocks)
            sample.pred_count = blocks.sum(dim=(-2, -1))
            names = [split_synonyms(entry)[0] for entry in sample.metainfo['classnames']]
            sample.set_metainfo(dict(label_names=names, density_stride=self.block_size))
        return list(data_samples)
