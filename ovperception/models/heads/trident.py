"""Trident (ICCV 2025): splice-then-segment with SAM global aggregation and SAM refinement.

The splice is ``OVModel``'s sliding-window path: the dense CLIP output of every sub-image
(window) is stitched into one map of the large image. :class:`TridentHead` then, per image,

1. encodes the whole image with SAM **once** (:class:`~ovperception.models.refiners.SAMWrapper`),
2. aggregates the stitched per-name cosine maps globally with affinities from SAM's last
   encoder block (:class:`~ovperception.models.refiners.SAMAffinityAggregation`),
3. labels pixels as :class:`DenseSimilarityHead` does (softmax over names, max over synonyms,
   probability threshold, optional ``score_refiner`` such as PAMR), and
4. optionally (``sam_refine``) turns the coarse class regions into SAM prompts and merges the
   SAM masks back (:func:`~ovperception.models.refiners.refine_sem_seg_with_sam`), reusing
   the encoding of step 1.
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.heads.segmentation import DenseSimilarityHead
from ovperception.models.refiners.sam import SAMWrapper
from ovperception.models.refiners.sam_affinity import SAMAffinityAggregation
from ovperception.models.refiners.sam_refiner import SAMRefineOptions, refine_sem_seg_with_sam
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList


@MODELS.register_module()
class TridentHead(DenseSimilarityHead):
    """Training-free cosine head with Trident's SAM aggregation and SAM refinement.

    Args:
        sam: a :class:`SAMWrapper` or its config (Trident: ``vit_b``).
        aggregation: options of :class:`SAMAffinityAggregation` (``grid_stride`` = the
            backbone's patch size, ``cos_factor``, ``cos_cap``).
        sam_refine: options of :class:`SAMRefineOptions`, or None to skip the refinement.
        **kwargs: post-processing options of :class:`DenseSimilarityHead`.
    """

    def __init__(self, *, sam: SAMWrapper | dict, aggregation: dict | None = None,
                 sam_refine: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.aggregation = SAMAffinityAggregation(sam=sam, **(aggregation or {}))
        self.refine_options = (SAMRefineOptions.from_kwargs(**sam_refine)
                               if sam_refine is not None else None)

    @property
    def sam(self) -> SAMWrapper:
        return self.aggregation.sam

    @property
    def uses_images(self) -> bool:
        """Always: SAM encodes each image."""
        return True

    def predict(self, outputs: list[Tensor], text: TextEmbeddings, data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Aggregate, label and refine each stitched (N, h, w) cosine map.

        Args:
            images: per sample, its (3, h, w) RGB 0..255 image at the working resolution.
        """
        if images is None or len(images) != len(outputs):
            raise ValueError('TridentHead needs one image per output (OVModel passes them)')
        for cosine, image, sample in zip(outputs, images, data_samples):
            ori_shape = tuple(sample.metainfo.get('ori_shape', cosine.shape[-2:]))[:2]
            state = self.sam.set_image(image, original_size=ori_shape, keep_qkv=True)
            cosine = self.aggregation.aggregate(cosine[None].float(), state)[0]
            super().predict([cosine], text, [sample], images=[image])
            if self.refine_options is not None:
                probs = (sample.seg_logits.data if 'seg_logits' in sample
                         else self.class_probabilities(cosine, text))
                refine_sem_seg_with_sam(image, sample, self.sam, self.refine_options,
                                        state=state, probs=probs)
        return list(data_samples)
