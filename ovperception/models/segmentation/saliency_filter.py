"""Similarity head with a saliency background filter (CLIP-DINOiser's FOUND rule)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.segmentation.similarity import IGNORE_INDEX, DenseSimilarityHead
from ovperception.models.inference import map_resized_in_chunks
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList


@MODELS.register_module()
class SaliencyFilteredHead(DenseSimilarityHead):
    """:class:`DenseSimilarityHead` whose features may carry a trailing foreground channel.

    With (B, C + 1, h, w) features (e.g. ``CLIPDINOiserBackbone(append_saliency=True)``), the
    last channel is a foreground probability ``s``; it is passed through ``forward`` as the
    last output channel, stitched like the scores, and in ``predict`` a pixel becomes background
    when it is uncertain (top class probability < ``confidence_threshold``) and not salient
    (``s <= saliency_threshold``). With C channels it behaves exactly like its parent.

    Args:
        confidence_threshold: CLIP-DINOiser's delta (0.99).
        saliency_threshold: foreground probability above which a pixel is salient (0.5).
        **kwargs: options of :class:`DenseSimilarityHead`.
    """

    def __init__(self, *, confidence_threshold: float = 0.99, saliency_threshold: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.confidence_threshold = confidence_threshold
        self.saliency_threshold = saliency_threshold

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, C [+1], h, w) -> (B, N [+1], h, w): cosine per name [+ the foreground channel]."""
        channels = text.embeddings.shape[-1]
        if feats.shape[1] == channels:
            return super().forward(feats, text)
        if feats.shape[1] != channels + 1:
            raise ValueError(f'features have {feats.shape[1]} channels; expected {channels} '
                             f'or {channels + 1} (with a foreground channel)')
        cosine = super().forward(feats[:, :channels], text)
        return torch.cat([cosine, feats[:, channels:].to(cosine.dtype)], dim=1)

    def predict(self, outputs: list[Tensor], text: TextEmbeddings, data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Labels as the parent's, then uncertain non-salient pixels become background."""
        num_names = len(text.name_to_class)
        has_saliency = [out.shape[0] == num_names + 1 for out in outputs]
        super().predict([out[:num_names] for out in outputs], text, data_samples, images)
        background = IGNORE_INDEX if self.background_index is None else self.background_index
        for out, salient, sample in zip(outputs, has_saliency, data_samples):
            if not salient:
                continue
            labels = sample.pred_sem_seg.data[0]
            filtered = map_resized_in_chunks(out.float(), tuple(labels.shape),
                                             lambda chunk: self._filtered(chunk, text))
            sample.pred_sem_seg.data[0] = labels.masked_fill(filtered, background)
        return list(data_samples)

    def _filtered(self, chunk: Tensor, text: TextEmbeddings) -> Tensor:
        """(N + 1, rows, W) -> (rows, W) bool: uncertain and not salient."""
        confidence = self.class_probabilities(chunk[:-1], text).max(dim=0).values
        return (confidence < self.confidence_threshold) & (chunk[-1] <= self.saliency_threshold)
