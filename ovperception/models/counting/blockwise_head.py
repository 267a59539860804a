"""CLIP-EBC: blockwise classification of object counts against per-bin text prompts.

For every block of ``block_size`` pixels the head scores its (adapted, L2-normalised)
CLIP feature ``f`` against one sentence per count bin, ``t_b`` = "There are two people.":

    logits_b = s * cos(f, t_b),     p = softmax(logits),     c_block = sum_b p_b * r_b

with a learnable temperature ``s`` (initialised to 1/0.07) and bin representatives
``r_b``; the density map is the block-count map and the count its sum. The loss is
the cross-entropy of the block bin labels (made from point annotations) plus
``count_loss_weight`` x an image-level count loss (L1, CLIP-EBC's ``'mae'`` option;
``'mse'`` also available; DMCount's OT + TV terms are not implemented).

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
                                                  points_to_block_counts)
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

COUNT_LOSSES = ('l1', 'mse', None)


def block_sum(density: Tensor, block_size: int) -> Tensor:
    """Sum a (K, H, W) per-pixel density over ``block_size`` blocks -> (K, ceil(H/b), ceil(W/b))."""
    pad_h, pad_w = -density.shape[-2] % block_size, -density.shape[-1] % block_size
    padded = F.pad(density, (0, pad_w, 0, pad_h))
    return F.avg_pool2d(padded[None], block_size)[0] * block_size ** 2


@MODELS.register_module()
class BlockwiseCountingHead(BaseOVHead):
    """CLIP-EBC head: per-block count-bin classification with text prompts.

    The feature map of the frozen CLIP (stride ``feature_stride``) is resampled to the
    block grid (stride ``block_size``; bilinear up-sampling for ViT-B/16 -> 8 as in
    CLIP-EBC, average pooling when blocks are larger than the stride), passed through a
    residual 1x1 adapter (zero-initialised, the light trainable part chosen here instead of
    CLIP-EBC's visual prompt tuning) and compared with the bin prompts.

    ``forward`` returns the per-pixel density (expected block count / block area) so that
    ``OVModel`` can stitch sliding windows at :attr:`output_stride` without changing the
    total; ``predict`` sums it back into block counts.

    Use it inside ``OVModel`` with ``template_set=['{}']``: :meth:`vocabulary_prompts`
    turns each class into full sentences, which must be encoded verbatim.

    Args:
        in_channels: C of the backbone's joint embedding space.
        feature_stride: output stride of the backbone (16 for ViT-B/16, 32 for RN50 here).
        block_size: block side in pixels (CLIP-EBC's ``reduction``, 8).
        bins: integer bins, see :class:`CountBins` (default ``truncation=4``).
        representatives: ``'middle'`` or one count per bin (CLIP-EBC ``'average'``).
        prompt_type: ``'word'`` or ``'number'``.
        prompts: overrides of the sentence templates (``count_bins.DEFAULT_PROMPTS``).
        hidden_channels: adapter width; 0 disables the adapter (zero-shot bins).
        logit_scale: initial temperature (CLIP-EBC: 1/0.07), learnable.
        count_loss: ``'l1'`` | ``'mse'`` | None.
        count_loss_weight: weight of the count loss next to the cross-entropy.
    """

    def __init__(self, in_channels: int, *, feature_stride: int = 16, block_size: int = 8,
                 bins: Sequence[Sequence[float]] = EBC_BINS_T4,
                 representatives: str | Sequence[float] = 'middle',
                 prompt_type: str = 'word', prompts: dict[str, str] | None = None,
                 hidden_channels: int = 256, logit_scale: float = 1 / 0.07,
                 count_loss: str | None = 'l1', count_loss_weight: float = 1.0) -> None:
        super().__init__()
        if count_loss not in COUNT_LOSSES:
            raise ValueError(f'count_loss must be one of {COUNT_LOSSES}, got {count_loss!r}')
        if feature_stride <= 0 or block_size <= 0 or (
                feature_stride % block_size and block_size % feature_stride):
            raise ValueError(f'block_size {block_size} and feature_stride {feature_stride} '
                             'must be positive and one must divide the other')
        self.bins = CountBins.build(bins, representatives)
        self.bins.prompts('object', prompts, prompt_type)  # validates templates early
        self.feature_stride, self.block_size = int(feature_stride), int(block_size)
        self.prompt_type, self.prompt_templates = prompt_type, dict(prompts or {})
        self.count_loss, self.count_loss_weight = count_loss, float(count_loss_weight)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale)))
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
        """(B, C, h, w) at ``feature_stride`` -> (B, C, h', w') at ``block_size``."""
        if self.feature_stride > self.block_size:
            factor = self.feature_stride // self.block_size
            feats = F.interpolate(feats, scale_factor=factor, mode='bilinear',
                                  align_corners=False)
        elif self.feature_stride < self.block_size:
            feats = F.avg_pool2d(feats, self.block_size // self.feature_stride, ceil_mode=True)
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
    def targets(self, data_samples: SampleList, num_classes: int,
                grid: tuple[int, int], device: torch.device) -> tuple[Tensor, Tensor]:
        """Block counts (B, K, h', w') from ``gt_instances.points`` and a valid-block mask.

        Blocks that lie wholly in the batch padding (outside ``img_shape``) are invalid.
        """
        counts, valid = [], []
        padded = (grid[0] * self.block_size, grid[1] * self.block_size)
        for sample in data_samples:
            if 'gt_instances' not in sample or 'points' not in sample.gt_instances:
                raise KeyError(f'sample {sample.metainfo.get("img_path", "")!r} has no '
                               'gt_instances.points: counting needs point annotations')
            instances = sample.gt_instances
            labels = instances.labels if 'labels' in instances else None
            counts.append(points_to_block_counts(instances.points.to(device), padded,
                                                 self.block_size, labels, num_classes))
            height, width = sample.metainfo.get('img_shape', padded)[:2]
            mask = torch.zeros(grid, dtype=torch.bool, device=device)
            mask[:-(-int(height) // self.block_size), :-(-int(width) // self.block_size)] = True
            valid.append(mask)
        return torch.stack(counts), torch.stack(valid)

    def loss(self, feats: Tensor, text: TextEmbeddings,
             data_samples: SampleList) -> dict[str, Tensor]:
        """Block-bin cross-entropy (mean over valid blocks) + weighted image count loss."""
        logits = self.bin_logits(feats, text)
        batch, num_classes, num_bins, rows, cols = logits.shape
        counts, valid = self.targets(data_samples, num_classes, (rows, cols), logits.device)
        labels = self.bins.labels(counts)
        mask = valid[:, None].expand_as(labels)
        flat_logits = logits.permute(0, 1, 3, 4, 2)[mask]
        losses = dict(loss_cls=F.cross_entropy(flat_logits, labels[mask]))
        if self.count_loss is not None:
            predicted = (self.block_counts(logits) * valid[:, None]).sum((-2, -1))
            target = (counts * valid[:, None]).sum((-2, -1))
            error = F.l1_loss if self.count_loss == 'l1' else F.mse_loss
            losses['loss_count'] = self.count_loss_weight * error(predicted, target)
        return losses

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
