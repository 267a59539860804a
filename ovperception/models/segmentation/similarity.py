"""Open-vocabulary semantic segmentation heads (cosine similarity to text)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.base_head import BaseOVHead
from ovperception.models.stitched import DenseOutput, StitchedWindows, as_stitched
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

IGNORE_INDEX = 255
REFINE_AT = ('original', 'working')


def compact_label_dtype(largest: int) -> torch.dtype:
    """Smallest torch integer type holding the labels ``0..largest``: uint8 (up to 255, so
    255 classes or 254 plus the 255 of unlabelled pixels), int16, int32."""
    if largest <= 255:
        return torch.uint8
    return torch.int16 if largest <= torch.iinfo(torch.int16).max else torch.int32


@MODELS.register_module()
class DenseSimilarityHead(BaseOVHead):
    """Training-free head: per-pixel cosine similarity between dense features and text.

    Post-processing follows the training-free protocol of SCLIP and its
    successors: logits are resized to the original image, ``softmax(scale *
    cosine)`` is taken over all names, each class takes the maximum over its
    synonyms, and pixels whose best probability is below ``prob_threshold``
    (or that pick a background word) become background.

    Args:
        logit_scale: temperature of the softmax; None uses the backbone's CLIP
            logit scale (100 for OpenAI weights). The protocol uses 40-65.
        prob_threshold: pixels whose top class probability is below it become background.
        background_index: class index that background pixels get (e.g. 0 for
            VOC21's background class); None labels them ``255`` (unlabelled).
        area_threshold: classes (other than ``background_index``) covering less
            than this fraction of the non-background prediction are dropped
            and their pixels re-assigned (SCLIP's area threshold); 0 disables.
        return_logits: also store per-class probabilities at the working
            resolution in ``seg_logits`` (memory: K x h x w floats).
        logits_max_side: with ``return_logits``, store them at most this many pixels on
            the longer side (the working size shrunk, aspect kept; the stitched cosine map
            is resized there chunk by chunk, never built at the working size): hover scores
            of a 24-MP image need no 0.7 GB map. None: at the working size.
        compact_labels: store ``pred_sem_seg`` as the smallest integer type holding every
            label and the background value (uint8 for up to 255 classes with 255 as
            unlabelled, else int16 / int32; see :func:`compact_label_dtype`) instead of
            int64: 108 MB, not 864 MB, at 108 MP. Same values; the tools that only write
            label maps (demo, ``tools/annotate.py``, the web app) ask for it, evaluation keeps
            int64.
        score_refiner: optional module (or config, e.g. ``PAMRRefiner``) called as
            ``refiner(image (1, 3, H, W), cosine (1, N, H, W)) -> (1, N, H, W)`` on the
            stitched per-name cosine maps, before the softmax and threshold (the PAMR of
            NACLIP and SCLIP). The head then needs the images: :attr:`uses_images` is True
            and ``predict`` takes ``images``.
        refine_at: where the score refiner runs: ``'original'`` (default, the official
            NACLIP/SCLIP order: cosine maps and image bilinearly resized to the sample's
            ``ori_shape`` first, refined there) or ``'working'`` (refined at the working
            resolution, then resized; cheaper on large originals).
    """

    takes_stitched_windows = True  # predict() accepts lazy StitchedWindows (see OVModel.decode)

    def __init__(self, *, logit_scale: float | None = None, prob_threshold: float = 0.0,
                 background_index: int | None = None, area_threshold: float = 0.0,
                 return_logits: bool = False, logits_max_side: int | None = None,
                 compact_labels: bool = False,
                 score_refiner: nn.Module | dict | None = None,
                 refine_at: str = 'original') -> None:
        super().__init__()
        if refine_at not in REFINE_AT:
            raise ValueError(f'refine_at must be one of {REFINE_AT}, got {refine_at!r}')
        self.refine_at = refine_at
        if not 0.0 <= prob_threshold <= 1.0:
            raise ValueError(f'prob_threshold must lie in [0, 1], got {prob_threshold}')
        if not 0.0 <= area_threshold < 1.0:
            raise ValueError(f'area_threshold must lie in [0, 1), got {area_threshold}')
        self.logit_scale = logit_scale
        self.prob_threshold = prob_threshold
        self.background_index = background_index
        self.area_threshold = area_threshold
        self.return_logits = return_logits
        if logits_max_side is not None and int(logits_max_side) < 1:
            raise ValueError(f'logits_max_side must be positive or None, got {logits_max_side}')
        self.logits_max_side = None if logits_max_side is None else int(logits_max_side)
        self.compact_labels = bool(compact_labels)
        if score_refiner is not None and not isinstance(score_refiner, (dict, nn.Module)):
            raise ValueError(f'score_refiner must be a refiner config (a dict with "type") or '
                             f'module, got {type(score_refiner).__name__} {score_refiner!r}')
        self.score_refiner = (MODELS.build(score_refiner) if isinstance(score_refiner, dict)
                              else score_refiner)

    @property
    def uses_images(self) -> bool:
        """Whether ``predict`` needs the (3, h, w) 0..255 RGB working-resolution images."""
        return self.score_refiner is not None

    def transform_features(self, feats: Tensor) -> Tensor:
        """Hook for learned heads: (B, C, h, w) -> (B, C, h, w). Identity here."""
        return feats

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """Cosine similarity of every location with every name.

        Args:
            feats: (B, C, h, w) dense features.
            text: (N, C) normalised name embeddings.

        Returns:
            (B, N, h, w) cosine similarities in [-1, 1].
        """
        feats = F.normalize(self.transform_features(feats), dim=1)
        embeddings = text.embeddings.to(device=feats.device, dtype=feats.dtype)
        return torch.einsum('bchw,nc->bnhw', feats, embeddings)

    def scale(self, text: TextEmbeddings) -> float:
        """Softmax temperature in use."""
        return float(self.logit_scale if self.logit_scale is not None else text.logit_scale)

    def class_logits(self, name_cosine: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, N, h, w) cosine -> (B, K', h, w) class logits (max over synonyms)."""
        return text.reduce_synonyms(name_cosine * self.scale(text), dim=1)

    def loss(self, feats: Tensor, text: TextEmbeddings, data_samples: SampleList) -> dict[str, Tensor]:
        """Pixel cross-entropy of the class logits against ``gt_sem_seg`` (255 ignored).

        Args:
            feats: (B, C, h, w) dense features of the training crops.
            data_samples: B samples with ``gt_sem_seg`` of the crop size.
        """
        target = torch.stack([s.gt_sem_seg.data[0] for s in data_samples]).long().to(feats.device)
        logits = self.class_logits(self.forward(feats, text), text)[:, :text.num_classes]
        logits = F.interpolate(logits, size=target.shape[-2:], mode='bilinear',
                               align_corners=False)
        if bool((target == IGNORE_INDEX).all()):
            return dict(loss_seg=logits.sum() * 0.0)
        return dict(loss_seg=F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX))

    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Label maps at each sample's ``ori_shape`` from stitched cosine maps (N, h, w).

        Args:
            outputs: per sample, its stitched per-name cosine map: a (N, h, w) tensor or a
                lazy :class:`~ovperception.models.stitched.StitchedWindows` (what
                ``OVModel`` passes, see :attr:`takes_stitched_windows`).
            images: per sample, its (3, h, w) RGB image at the working resolution; needed
                (only) with a ``score_refiner``.
        """
        maps = self.refined_maps(outputs, data_samples, images)
        for cosine, sample in zip(maps, data_samples):
            self.label_sample(cosine, text, sample)
        return list(data_samples)

    def refined_maps(self, outputs: Sequence[DenseOutput], data_samples: SampleList,
                     images: Sequence[Tensor] | None = None) -> list[StitchedWindows]:
        """Each sample's stitched (N, h, w) map after the ``score_refiner`` (unchanged
        without one): the map that both the labels and the stored scores are made from.

        Args:
            outputs: per sample, its stitched per-name map (tensor or lazy).
            images: per sample, its (3, h, w) RGB working image; needed with a refiner.

        Returns:
            The maps; refined ones are (N, H, W) at ``ori_shape`` with
            ``refine_at='original'``, at the working size otherwise (:meth:`refine_scores`).
        """
        maps = [as_stitched(output) for output in outputs]
        if self.score_refiner is None:
            return maps
        if images is None or len(images) != len(maps):
            raise ValueError('a head with a score_refiner needs one image per output')
        return [self.refine_scores(image, cosine, sample)
                for image, cosine, sample in zip(images, maps, data_samples)]

    def label_sample(self, cosine: StitchedWindows, text: TextEmbeddings,
                     sample: OVDataSample) -> None:
        """Fill ``sample`` from one (already refined) map: ``pred_sem_seg`` (1, H, W) at
        ``ori_shape``, ``seg_logits`` (:meth:`stored_scores`) with ``return_logits``, and the
        ``label_names``. Labels and scores come from this one map."""
        out_size = tuple(sample.metainfo.get('ori_shape', cosine.image_size))[:2]
        labels = self.labels_from_cosine(cosine, text, out_size)
        sample.pred_sem_seg = PixelData(data=labels[None])
        if self.return_logits:
            sample.seg_logits = PixelData(data=self.stored_scores(cosine, text, sample))
        sample.set_metainfo(dict(label_names=text.class_names))

    def stored_scores(self, cosine: StitchedWindows, text: TextEmbeddings,
                      sample: OVDataSample) -> Tensor:
        """The (K', h, w) class probabilities stored in ``seg_logits`` with ``return_logits``.

        ``cosine`` is the very map the labels come from: the refined one when there is a
        ``score_refiner``, so the score at a pixel's label is the probability that won there
        (up to ``prob_threshold`` / ``area_threshold`` relabelling). Subclasses change where
        the scores are stored (e.g. CASS: at ``ori_shape``), never which map they come from.

        Args:
            cosine: the stitched (N, H, W) map the labels were made from.
            sample: its data sample (``ori_shape``).

        Returns:
            (K', h, w) probabilities at :meth:`logits_size` of the map's size.
        """
        return self.stitched_probabilities(cosine, text)

    def refine_scores(self, image: Tensor, cosine: StitchedWindows,
                      sample: OVDataSample) -> StitchedWindows:
        """Run the score refiner on one sample's stitched cosine map (N, h, w).

        Args:
            image: (3, h, w) RGB image at the working resolution.
            cosine: the stitched per-name cosine map.
            sample: its data sample (``ori_shape``).

        Returns:
            The refined (N, H, W) map, at ``ori_shape`` with ``refine_at='original'`` (the
            cosine map bilinearly resized there first; the refiner resizes the image to
            it), at the working size otherwise.
        """
        size = cosine.image_size
        if self.refine_at == 'original':
            size = tuple(sample.metainfo.get('ori_shape', size))[:2]
        dense = cosine.map_rows(size).permute(2, 0, 1)
        return StitchedWindows.from_dense(
            self.score_refiner(image[None], dense[None].float())[0])

    def logits_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) at which ``seg_logits`` of a (H, W) working map are stored: ``size``
        shrunk to ``logits_max_side`` on its longer side (aspect kept), or ``size``."""
        height, width = int(size[0]), int(size[1])
        if self.logits_max_side is None or max(height, width) <= self.logits_max_side:
            return height, width
        scale = self.logits_max_side / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def stitched_probabilities(self, cosine: DenseOutput, text: TextEmbeddings) -> Tensor:
        """(K', h, w) class probabilities of a stitched (N, H, W) cosine map at
        :meth:`logits_size`, made a chunk of rows at a time (no (N, H, W) float copies)."""
        stitched = as_stitched(cosine)
        size = self.logits_size(stitched.image_size)
        rows = stitched.map_rows(
            size, lambda chunk: self.class_probabilities(chunk.float().movedim(-1, 0),
                                                         text).movedim(0, -1))
        return rows.permute(2, 0, 1).contiguous()

    def class_probabilities(self, cosine: Tensor, text: TextEmbeddings) -> Tensor:
        """(N, ...) cosine -> (K', ...) class probabilities (softmax over names, max over synonyms)."""
        probs = torch.softmax(cosine * self.scale(text), dim=0)
        return text.reduce_synonyms(probs, dim=0)

    @property
    def needs_probabilities(self) -> bool:
        """Whether labels depend on softmax probabilities (a probability threshold).

        Without one, the label is the class of the name with the highest cosine: the
        softmax is monotonic and the max over synonyms commutes with it, so the
        probabilities are skipped (identical labels up to float ties).
        """
        return self.prob_threshold > 0

    def labels_from_cosine(self, cosine: DenseOutput, text: TextEmbeddings,
                           size: tuple[int, int]) -> Tensor:
        """(N, h, w) cosine -> (H, W) long labels at ``size``, without materialising (N, H, W).

        Rows of the resized map are produced in chunks (channels-last (rows, W, N));
        each chunk is reduced to labels at once: max over names (a name's class is its
        label, which equals max over synonyms then argmax over classes, ties included,
        since names are ordered by class), with the softmax only when a probability
        threshold needs it.
        """
        background = IGNORE_INDEX if self.background_index is None else self.background_index
        if self.background_index is not None and not 0 <= background < text.num_classes:
            raise ValueError(f'background_index {background} is outside the vocabulary of '
                             f'{text.num_classes} classes')
        stitched = as_stitched(cosine)
        device = stitched.outputs.device
        name_to_class = text.name_to_class.to(device)
        scale = self.scale(text)
        dtype = (compact_label_dtype(max(text.num_classes - 1, background))
                 if self.compact_labels else torch.long)
        suppressed_names: Tensor | None = None  # (N,) bool, names of dropped classes

        def to_labels(chunk: Tensor, raw_argmax: bool = False) -> Tensor:
            chunk = chunk.float()
            use_probs = self.needs_probabilities and not raw_argmax
            if use_probs:
                chunk = torch.softmax(chunk * scale, dim=-1)
            if suppressed_names is not None:
                chunk = chunk.masked_fill(suppressed_names, 0.0 if use_probs else float('-inf'))
            best, names = chunk.max(dim=-1)
            labels = name_to_class[names]
            if raw_argmax:
                return labels
            if use_probs:
                labels = labels.masked_fill(best < self.prob_threshold, background)
            if text.vocabulary.has_virtual_background:
                labels = labels.masked_fill(labels == text.num_classes, background)
            return labels.to(dtype)

        if self.area_threshold > 0:
            # Areas come from the plain argmax, before any threshold (SCLIP's rule).
            argmax = stitched.map_rows(size, lambda c: to_labels(c, raw_argmax=True))
            small = self._small_classes(argmax, text.num_classes)
            if bool(small.any()):
                suppressed_names = torch.cat([small, small.new_zeros(1)])[
                    name_to_class.clamp(max=text.num_classes)]
        return stitched.map_rows(size, to_labels)

    def _small_classes(self, labels: Tensor, num_classes: int) -> Tensor:
        """(K,) bool: classes whose share of the non-background area is below the threshold."""
        valid = labels[labels < num_classes]
        areas = torch.bincount(valid.flatten(), minlength=num_classes).float()
        if self.background_index is not None:
            areas[self.background_index] = 0.0
        total = areas.sum()
        small = (areas <= self.area_threshold * total) if total > 0 else torch.zeros_like(
            areas, dtype=torch.bool)
        if self.background_index is not None:
            small[self.background_index] = False
        return small


@MODELS.register_module()
class AdaptedSimilarityHead(DenseSimilarityHead):
    """A light trainable head: a residual 1x1-conv adapter on the frozen dense features.

    ``f' = f + W f`` with ``W`` initialised to zero, so an untrained head equals
    :class:`DenseSimilarityHead`; training adapts the features to a dataset's
    classes with a pixel cross-entropy.

    Args:
        in_channels: feature dimension C of the backbone's joint space.
        hidden_channels: width of the adapter's bottleneck.
        **kwargs: post-processing options of :class:`DenseSimilarityHead`.
    """

    def __init__(self, in_channels: int, *, hidden_channels: int = 256, **kwargs) -> None:
        super().__init__(**kwargs)
        self.adapter = nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 1), nn.GELU(),
            nn.Conv2d(hidden_channels, in_channels, 1))
        nn.init.zeros_(self.adapter[-1].weight)
        nn.init.zeros_(self.adapter[-1].bias)

    def transform_features(self, feats: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, h, w): residual adapter."""
        return feats + self.adapter(feats)
