"""Trident (ICCV 2025): splice-then-segment with SAM global aggregation and SAM refinement.

The splice is ``OVModel``'s sliding-window path: the dense output of every sub-image (window)
is stitched (overlap-averaged) into one map of the large image. :class:`TridentHead` then, per
image,

1. encodes the whole image with SAM **once** (:class:`~ovperception.models.refiners.SAMWrapper`),
2. aggregates globally with affinities ``A`` from SAM's last encoder block
   (:class:`~ovperception.models.refiners.SAMAffinityAggregation`), at one of two levels
   (``aggregate_on``):

   * ``'features'`` (Trident): :meth:`forward` returns each window's L2-normalised dense
     features ``f`` (C channels); they are spliced on the token grid
     (:meth:`StitchedWindows.on_grid`), aggregated, re-normalised and only then matched with
     the text: ``S'_ni = t_n . g_i / |g_i|`` with ``g_i = sum_j A_ij f_j``;
   * ``'scores'``: :meth:`forward` returns per-name cosine maps (as ``DenseSimilarityHead``),
     spliced and aggregated the same way: ``S'_ni = sum_j A_ij t_n . f_j`` (the same without
     the re-normalisation ``1 / |g_i|``),

   and the (N, gh, gw) result is resized to the working resolution (bilinear, lazily),

   or, ``'tokens'`` (the official code, the default of the Trident configs): the backbone
   returns the raw last-block tokens before CLIP's final norm and projection
   (``ProxyCLIPBackbone(project=False)``); they are spliced on the token grid, resized onto
   SAM's own valid token grid (``input // 16``, of the image resized to multiples of 16),
   aggregated there with the official affinity
   (:func:`~ovperception.models.refiners.sam_affinity.trident_affinity`: SAM's attention with
   its relative-position terms, one threshold per query), projected (``ln_post``, ``proj``),
   normalised, matched with the text and resized straight to the original size; with
   ``sam_splits=2`` (Cityscapes) the image and the token grid are cut into left and right
   halves that SAM encodes separately,

3. labels pixels as :class:`DenseSimilarityHead` does (softmax over names, max over synonyms,
   probability threshold, optional ``score_refiner`` such as PAMR), and
4. optionally (``sam_refine``) turns the coarse class regions into SAM prompts and merges the
   SAM masks back, reusing the encoding of step 1: the official rule
   (``sam_refine_style='official'``,
   :func:`~ovperception.models.refiners.sam_refiner.trident_refinement`) or the generic one
   (:func:`~ovperception.models.refiners.refine_sem_seg_with_sam`).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.segmentation.similarity import DenseSimilarityHead
from ovperception.models.refiners.sam import SAMImageState, SAMWrapper
from ovperception.models.refiners.sam_affinity import SAMAffinityAggregation, trident_affinity
from ovperception.models.refiners.sam_refiner import (SAMRefineOptions, refine_sem_seg_with_sam,
                                                     trident_refinement)
from ovperception.models.stitched import DenseOutput, StitchedWindows, as_stitched
from ovperception.registry import MODELS
from ovperception.utils.image_io import load_image
from ovperception.structures import OVDataSample, SampleList

AGGREGATION_LEVELS = ('features', 'scores', 'tokens')


@MODELS.register_module()
class TridentHead(DenseSimilarityHead):
    """Training-free cosine head with Trident's SAM aggregation and SAM refinement.

    Args:
        sam: a :class:`SAMWrapper` or its config (Trident: ``vit_b``).
        aggregation: options of :class:`SAMAffinityAggregation` (``grid_stride`` = the
            backbone's patch size, ``cos_factor``, ``cos_cap``).
        aggregate_on: ``'tokens'`` (official: raw tokens on SAM's grid, see the module
            docstring), ``'features'`` (stitched dense features on the CLIP grid,
            re-normalised before the text matching) or ``'scores'`` (stitched per-name cosine
            maps).
        sam_splits: 1, or 2 to encode the left and right halves with SAM separately
            (official Cityscapes; ``'tokens'`` only).
        refine_negative: ``'tokens'``: False turns a negative affinity threshold into 0.6.
        sam_refine_style: ``'official'`` (the repo's refinement:
            :func:`~ovperception.models.refiners.sam_refiner.trident_refinement`, using
            ``sam_refine``'s ``coarse_threshold``, ``min_area``, ``iou_threshold``) or
            ``'generic'`` (:func:`refine_sem_seg_with_sam` with all of ``sam_refine``).
        sam_input: ``'tokens'``: SAM encodes the ``'original'`` image file of the sample
            (``img_path``, as the official code; the working image when there is no file) or
            the ``'working'`` image.
        sam_refine: options of :class:`SAMRefineOptions`, or None to skip the refinement.
        refine_sam: another SAM for the generic refinement only (e.g. a lighter
            ``SAM2Wrapper``); None: ``sam`` refines too. The aggregation always needs SAM ViT.
        **kwargs: post-processing options of :class:`DenseSimilarityHead`.
    """

    takes_stitched_windows = True  # predict() accepts lazy StitchedWindows

    def __init__(self, *, sam: SAMWrapper | dict, aggregation: dict | None = None,
                 aggregate_on: str = 'features', sam_refine: dict | None = None,
                 sam_splits: int = 1, refine_negative: bool = True,
                 sam_input: str = 'working', sam_refine_style: str = 'generic',
                 refine_sam: SAMWrapper | dict | None = None,
                 **kwargs) -> None:
        if aggregate_on not in AGGREGATION_LEVELS:
            raise ValueError(f'aggregate_on must be one of {AGGREGATION_LEVELS}, '
                             f'got {aggregate_on!r}')
        if sam_splits not in (1, 2) or (sam_splits == 2 and aggregate_on != 'tokens'):
            raise ValueError("sam_splits must be 1, or 2 with aggregate_on='tokens'")
        if sam_input not in ('working', 'original'):
            raise ValueError(f"sam_input must be 'working' or 'original', got {sam_input!r}")
        self.sam_input = sam_input
        if sam_refine_style not in ('generic', 'official'):
            raise ValueError(f"sam_refine_style must be 'generic' or 'official', "
                             f'got {sam_refine_style!r}')
        if sam_refine_style == 'official' and aggregate_on != 'tokens':
            raise ValueError("sam_refine_style='official' needs aggregate_on='tokens'")
        self.sam_refine_style = sam_refine_style
        if refine_sam is not None and sam_refine_style == 'official':
            raise ValueError("refine_sam applies to sam_refine_style='generic' (the official "
                             "refinement reuses the aggregation's SAM encoding)")
        super().__init__(**kwargs)
        self.refine_sam = (MODELS.build(refine_sam) if isinstance(refine_sam, dict)
                           else refine_sam)
        self.aggregate_on = aggregate_on
        self.sam_splits, self.refine_negative = int(sam_splits), bool(refine_negative)
        self._project: tuple = ()
        self.aggregation = SAMAffinityAggregation(sam=sam, **(aggregation or {}))
        self.refine_options = (SAMRefineOptions.from_kwargs(**sam_refine)
                               if sam_refine is not None else None)

    @property
    def sam(self) -> SAMWrapper:
        return self.aggregation.sam

    @property
    def refiner_sam(self) -> SAMWrapper:
        """The SAM of the generic refinement: ``refine_sam`` if given, else ``sam``."""
        return self.refine_sam if self.refine_sam is not None else self.sam

    @property
    def uses_images(self) -> bool:
        """Always: SAM encodes each image."""
        return True

    def bind_backbone(self, backbone: nn.Module) -> None:
        """Called by ``OVModel``: keep the backbone's ``project_tokens`` (not as a submodule)."""
        project = getattr(backbone, 'project_tokens', None)
        self._project = (project,) if project is not None else ()

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """Window outputs to stitch.

        Args:
            feats: (B, C, h, w) dense features of B windows.
            text: (N, C) normalised name embeddings.

        Returns:
            (B, C, h, w) L2-normalised features (``aggregate_on='features'``) or (B, N, h, w)
            cosine similarities (``'scores'``).
        """
        if self.aggregate_on == 'scores':
            return super().forward(feats, text)
        if self.aggregate_on == 'tokens':
            return feats
        return F.normalize(self.transform_features(feats), dim=1)

    def loss(self, feats: Tensor, text: TextEmbeddings, data_samples: SampleList) -> dict:
        raise NotImplementedError('TridentHead is training-free (no loss)')

    def aggregated_cosine(self, stitched: DenseOutput, text: TextEmbeddings,
                          state: SAMImageState) -> StitchedWindows:
        """The (N, H, W) per-name cosine map after the global aggregation (lazy).

        Args:
            stitched: the stitched :meth:`forward` output of one image, (C or N, H, W).
            state: SAM state of the same image with ``last_qkv``.
        """
        stitched = as_stitched(stitched)
        grid_values = stitched.on_grid(self.aggregation.grid_stride)[None].float()
        aggregated = self.aggregation.aggregate_grid(grid_values, state)[0]  # (C or N, gh, gw)
        if self.aggregate_on == 'scores':
            cosine = aggregated
        else:
            feats = F.normalize(aggregated, dim=0)
            embeddings = text.embeddings.to(device=feats.device, dtype=feats.dtype)
            cosine = torch.einsum('chw,nc->nhw', feats, embeddings)
        # One "window" covering the image: resized to the working resolution on demand.
        size = stitched.image_size
        return StitchedWindows(cosine[None], [(0, 0, size[0], size[1])], size)

    def sam_image(self, image: Tensor, sample: OVDataSample | None = None) -> Tensor:
        """SAM's input before SAM's own resize, as the official code makes it: the image
        (``sam_input='original'``: the sample's ``img_path`` file when it has one; else the
        (3, H, W) 0..255 working image) as uint8, resized with OpenCV's bilinear rule to
        multiples of 16. Returns (3, h, w) float 0..255."""
        path = sample.metainfo.get('img_path') if sample is not None else None
        if self.sam_input == 'original' and path:
            array = load_image(path)
        else:
            array = image.detach().round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
            array = array.cpu().numpy()
        height, width = array.shape[:2]
        size = (-(-height // 16) * 16, -(-width // 16) * 16)
        if (height, width) != size:
            array = cv2.resize(array, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).to(
            device=image.device, dtype=torch.float32)

    def aggregated_tokens_cosine(self, stitched: DenseOutput, text: TextEmbeddings,
                                 sam_image: Tensor, size: tuple[int, int]) -> StitchedWindows:
        """Official aggregation (``aggregate_on='tokens'``): the (N, vh, vw) cosine on SAM's
        valid grid, as a lazy map of the image of ``size`` (the original size)."""
        if not self._project:
            raise ValueError("aggregate_on='tokens' needs a backbone with project_tokens "
                             '(ProxyCLIPBackbone(project=False)) bound by OVModel')
        tokens = as_stitched(stitched).on_grid(self.aggregation.grid_stride).float()
        pieces = []
        for part in range(self.sam_splits):
            image_part = sam_image[..., part * sam_image.shape[-1] // self.sam_splits:
                                   (part + 1) * sam_image.shape[-1] // self.sam_splits]
            token_part = tokens[..., part * tokens.shape[-1] // self.sam_splits:
                                (part + 1) * tokens.shape[-1] // self.sam_splits]
            state = self.sam.set_image(image_part, keep_qkv=True)
            grid = self.sam.valid_grid_floor(state.input_size)
            values = state.full_qkv[2][:, :grid[0], :grid[1]].flatten(1, 2)
            affinity = trident_affinity(
                lambda head: self.sam.last_block_attention(state, grid, head), values,
                self.aggregation.cos_factor, self.aggregation.cos_cap, self.refine_negative)
            resized = F.interpolate(token_part[None], size=grid, mode='bilinear',
                                    align_corners=False)
            pieces.append((resized.flatten(2) @ affinity.T.to(resized.device)).reshape(
                resized.shape))
        feats = F.normalize(self._project[0](torch.cat(pieces, dim=-1)), dim=1)[0]
        embeddings = text.embeddings.to(device=feats.device, dtype=feats.dtype)
        cosine = torch.einsum('chw,nc->nhw', feats, embeddings)
        return StitchedWindows(cosine[None], [(0, 0, size[0], size[1])], size)

    def _refine_officially(self, sample: OVDataSample, cosine: StitchedWindows,
                           text: TextEmbeddings, state: SAMImageState) -> None:
        """The repo's SAM refinement of ``sample``'s labels (``sam_refine_style='official'``)."""
        options = self.refine_options
        probs = self.class_probabilities(cosine.dense().float(), text)
        labels, scores = trident_refinement(
            sample.pred_sem_seg.data[0], probs, self.sam, state,
            coarse_threshold=options.coarse_threshold, min_area=options.min_area,
            iou_threshold=options.iou_threshold)
        sample.pred_sem_seg = PixelData(data=labels[None])
        if self.return_logits:
            sample.seg_logits = PixelData(data=scores)

    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Aggregate, label and refine each stitched map.

        Args:
            outputs: per sample, its stitched :meth:`forward` output (tensor or lazy).
            images: per sample, its (3, h, w) RGB 0..255 image at the working resolution.
        """
        if images is None or len(images) != len(outputs):
            raise ValueError('TridentHead needs one image per output (OVModel passes them)')
        for output, image, sample in zip(outputs, images, data_samples):
            size = as_stitched(output).image_size
            ori_shape = tuple(sample.metainfo.get('ori_shape', size))[:2]
            if self.aggregate_on == 'tokens':
                sam_image = self.sam_image(image, sample)
                cosine = self.aggregated_tokens_cosine(output, text, sam_image, ori_shape)
                state = None
                if self.refine_options is not None and self.sam_refine_style == 'official':
                    cosine = self.refined_maps([cosine], [sample], [image])[0]
                    self.label_sample(cosine, text, sample)
                    self._refine_officially(sample, cosine, text,
                                            self.sam.set_image(sam_image, keep_qkv=True))
                    continue
                if self.refine_options is not None:
                    state = self.refiner_sam.set_image(sam_image, original_size=ori_shape)
            else:
                state = self.sam.set_image(image, original_size=ori_shape, keep_qkv=True)
                cosine = self.aggregated_cosine(output, text, state)
                if self.refine_sam is not None:
                    state = None  # the refining SAM encodes the image itself
            # the map after the score refiner (PAMR): labels, stored scores and the SAM
            # refinement's probabilities all come from it, as in the official code
            cosine = self.refined_maps([cosine], [sample], [image])[0]
            self.label_sample(cosine, text, sample)
            if self.refine_options is not None:
                probs = (sample.seg_logits.data if 'seg_logits' in sample
                         else self.class_probabilities(cosine.dense().float(), text))
                refine_sem_seg_with_sam(image, sample, self.refiner_sam, self.refine_options,
                                        state=state, probs=probs)
        return list(data_samples)
