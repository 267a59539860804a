"""Similarity head with a saliency background filter (CLIP-DINOiser's FOUND rule)."""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.structures import PixelData
from torch import Tensor

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.inference import map_resized_in_chunks
from ovperception.models.segmentation.similarity import IGNORE_INDEX, DenseSimilarityHead
from ovperception.models.stitched import DenseOutput, StitchedWindows, as_stitched
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList


@MODELS.register_module()
class SaliencyFilteredHead(DenseSimilarityHead):
    """:class:`DenseSimilarityHead` whose features may carry a trailing foreground channel.

    With (B, C + 1, h, w) features (e.g. ``CLIPDINOiserBackbone(append_saliency=True)``), the
    last channel is a foreground probability ``s``; a location is *filtered* when it is
    uncertain (top class probability < ``confidence_threshold``) and not salient
    (``s <= saliency_threshold``). Two placements:

    * ``window_probabilities=True`` (official CLIP-DINOiser): ``forward`` returns each window's
      per-name probabilities ``softmax(scale * cosine)`` on its token grid, with the
      background class's probability set to 1.0 at filtered tokens; these probabilities are
      what is resized to the window and averaged over windows, and the label is their argmax
      (``prob_threshold`` then applies to the averaged probabilities). Filtering needs
      ``background_index`` (or background words, whose names take the 1.0).
    * ``window_probabilities=False``: cosines are stitched, the softmax runs per pixel after
      stitching, and filtered pixels (tested per pixel on the stitched map) are relabelled
      ``background_index``. With a ``score_refiner`` (outside the official protocol) labels
      and filter both read the refined map's probabilities. ``seg_logits`` keep those
      probabilities at filtered pixels, as at pixels ``prob_threshold`` relabels.

    With C channels (no foreground channel) nothing is filtered.

    Args:
        confidence_threshold: CLIP-DINOiser's delta (0.99).
        saliency_threshold: foreground probability above which a location is salient (0.5).
        window_probabilities: see above.
        **kwargs: options of :class:`DenseSimilarityHead`.
    """

    takes_stitched_windows = True  # predict() accepts lazy StitchedWindows

    def __init__(self, *, confidence_threshold: float = 0.99, saliency_threshold: float = 0.5,
                 window_probabilities: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if window_probabilities and (self.score_refiner is not None or self.area_threshold > 0):
            raise ValueError('window_probabilities=True takes neither a score_refiner nor an '
                             'area_threshold')
        self.confidence_threshold = confidence_threshold
        self.saliency_threshold = saliency_threshold
        self.window_probabilities = window_probabilities

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, C [+1], h, w) -> (B, N [+1], h, w): cosine per name [+ the foreground channel],
        or (B, N, h, w) filtered probabilities per name with ``window_probabilities``."""
        channels = text.embeddings.shape[-1]
        if feats.shape[1] not in (channels, channels + 1):
            raise ValueError(f'features have {feats.shape[1]} channels; expected {channels} '
                             f'or {channels + 1} (with a foreground channel)')
        cosine = super().forward(feats[:, :channels], text)
        if not self.window_probabilities:
            if feats.shape[1] == channels:
                return cosine
            return torch.cat([cosine, feats[:, channels:].to(cosine.dtype)], dim=1)
        probs = torch.softmax(cosine.float() * self.scale(text), dim=1)
        if feats.shape[1] == channels:
            return probs
        filtered = self._filtered(probs, feats[:, channels].float(), dim=1)  # (B, h, w)
        background = self._background_names(text).to(probs.device)          # (N,)
        return probs.masked_fill(filtered[:, None] & background[None, :, None, None], 1.0)

    def _background_names(self, text: TextEmbeddings) -> Tensor:
        """(N,) bool: the names whose probability a filtered token sets to 1.0."""
        name_to_class = text.name_to_class
        if self.background_index is not None:
            return name_to_class == self.background_index
        if text.vocabulary.has_virtual_background:
            return name_to_class == text.num_classes
        raise ValueError('window_probabilities with a foreground channel needs background_index '
                         '(the background class) or background words')

    def _filtered(self, probs: Tensor, saliency: Tensor, dim: int) -> Tensor:
        """Uncertain (top probability < delta) and not salient; ``probs`` per name on ``dim``."""
        return self._filter_rule(probs.max(dim=dim).values, saliency)

    def _filter_rule(self, confidence: Tensor, saliency: Tensor) -> Tensor:
        """Bool of the shape of both: uncertain (top class probability ``confidence`` below
        delta) and not salient (foreground probability ``saliency`` at most its threshold)."""
        return (confidence < self.confidence_threshold) & (saliency <= self.saliency_threshold)

    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Labels from stitched window probabilities, or the parent's labels then the
        per-pixel filter (see the class docstring).

        Per pixel (``window_probabilities=False``), the filter's confidence is the top class
        probability of the map the labels come from: the ``score_refiner``'s output when
        there is one (its probabilities at ``ori_shape``), the stitched cosines otherwise.
        ``seg_logits`` keep those probabilities at filtered pixels, as at pixels that
        ``prob_threshold`` relabels: the score at a filtered pixel's label is the background
        class's own probability there (no score: ``255``, unlabelled).

        Args:
            outputs: per sample, its stitched (N [+1], h, w) map (tensor or lazy), the
                foreground channel last when there is one.
            images: per sample, its (3, h, w) RGB working image; needed with a refiner.
        """
        if self.window_probabilities:
            return self._predict_from_probabilities(outputs, text, data_samples)
        num_names = len(text.name_to_class)
        maps = [as_stitched(out) for out in outputs]
        has_saliency = [out.shape[0] == num_names + 1 for out in maps]
        maps = [out.dense() if salient else out for out, salient in zip(maps, has_saliency)]
        cosines = [out[:num_names] if salient else out for out, salient in zip(maps, has_saliency)]
        refined = self.refined_maps(cosines, data_samples, images)
        background = IGNORE_INDEX if self.background_index is None else self.background_index
        for out, scores, salient, sample in zip(maps, refined, has_saliency, data_samples):
            self.label_sample(scores, text, sample)
            if not salient:
                continue
            labels = sample.pred_sem_seg.data[0]
            size = tuple(labels.shape)
            if self.score_refiner is None:   # cosines and foreground resized together
                filtered = map_resized_in_chunks(
                    out.float(), size,
                    lambda chunk: self._filtered(self.class_probabilities(chunk[:-1], text),
                                                 chunk[-1], dim=0))
            else:
                filtered = self._refined_filter(scores, out[-1], text, size)
            sample.pred_sem_seg.data[0] = labels.masked_fill(filtered, background)
        return list(data_samples)

    def _refined_filter(self, scores: StitchedWindows, saliency: Tensor, text: TextEmbeddings,
                        size: tuple[int, int]) -> Tensor:
        """(H, W) bool filter at the label ``size`` from a refined map.

        Args:
            scores: the refined (N, H', W') map the labels come from (resized to ``size`` as
                :meth:`labels_from_cosine` resizes it; no copy at ``ori_shape``).
            saliency: (h, w) foreground probability at the working size, resized bilinearly.
        """
        confidence = scores.map_rows(
            size, lambda chunk: self.class_probabilities(chunk.float().movedim(-1, 0),
                                                         text).max(dim=0).values)
        foreground = map_resized_in_chunks(saliency[None].float(), size,
                                           lambda chunk: chunk[0])
        return self._filter_rule(confidence, foreground)

    def _predict_from_probabilities(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                                    data_samples: SampleList) -> list[OVDataSample]:
        """Argmax of the stitched per-name probabilities, resized to ``ori_shape``."""
        background = IGNORE_INDEX if self.background_index is None else self.background_index

        def to_labels(chunk: Tensor) -> Tensor:                 # (rows, W, N) -> (rows, W)
            best, names = chunk.float().max(dim=-1)
            labels = name_to_class[names]
            if self.prob_threshold > 0:
                labels = labels.masked_fill(best < self.prob_threshold, background)
            if text.vocabulary.has_virtual_background:
                labels = labels.masked_fill(labels == text.num_classes, background)
            return labels

        for output, sample in zip(outputs, data_samples):
            stitched = as_stitched(output)
            name_to_class = text.name_to_class.to(stitched.outputs.device)
            size = tuple(sample.metainfo.get('ori_shape', stitched.image_size))[:2]
            sample.pred_sem_seg = PixelData(data=stitched.map_rows(size, to_labels)[None])
            if self.return_logits:
                sample.seg_logits = PixelData(
                    data=text.reduce_synonyms(stitched.dense().float(), dim=0))
            sample.set_metainfo(dict(label_names=text.class_names))
        return list(data_samples)
