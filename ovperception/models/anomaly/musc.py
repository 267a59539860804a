"""MuSc (Li et al., ICLR 2024): zero-shot anomaly detection by mutual scoring of an image set.

Every image of a set of unlabeled images of one object is scored against all the others
(xrli-U/MuSc ``models/musc.py``): patch tokens of ViT blocks ``feature_layers`` (raw
residual stream, no ``ln_post``), aggregated over r x r neighbourhoods for each degree in
``aggregation_degrees`` (:mod:`.musc_aggregation`), mutually scored per layer
(:func:`mutual_scores`), averaged over layers and then degrees; the map is that grid
upsampled bilinearly with ``align_corners=True``; the image score is the map's maximum,
re-scored over each image's most similar images by class embedding (RsCIN).

Batch mode: :meth:`MuScModel.predict` scores a batch as one set per object name; for
``tools/test.py`` (:class:`~ovperception.engine.set_test_loop.SetTestLoop`) and folders,
:meth:`add_to_set` / :meth:`score_sets` take any number of batches and score each object's
images together, with features in a :class:`FeatureStore` (memory or disk). With
:meth:`set_unlabeled_images` a fixed set serves as the "others" of any later image (the
demo, annotate and the web app score images one at a time against it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.anomaly.anomaly_model import object_name_of
from ovperception.models.anomaly.musc_aggregation import (aggregate_neighbourhood,
                                                          normalise_token_map)
from ovperception.models.anomaly.musc_store import FeatureStore
from ovperception.models.anomaly.mutual_scoring import mutual_scores, rescore_with_neighbours
from ovperception.models.ov_model import OVModel
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList
from ovperception.utils.smoothing import smooth_anomaly_map
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                   takes_backbone_statistics)


@dataclass
class ImageSet:
    """The images of one object added so far.

    Attributes:
        store: per layer (N, C, h, w) layer-normalised token maps.
        embeddings: per batch (B, C) L2-normalised image embeddings.
        samples: the data samples, in the order added.
        size: (H, W) working size shared by the set.
    """

    store: FeatureStore
    embeddings: list[Tensor] = field(default_factory=list)
    samples: list[OVDataSample] = field(default_factory=list)
    size: tuple[int, int] | None = None


@MODELS.register_module()
class MuScModel(BaseModel):
    """Training-free MuSc on a frozen CLIP ViT (``OpenCLIPBackbone``).

    Args:
        backbone: the backbone config (MuSc: OpenAI ViT-L/14-336 at 518 px).
        feature_layers: 0-based ViT blocks whose tokens are scored (5, 11, 17, 23).
        aggregation_degrees: r of the r x r neighbourhood aggregation (1, 3, 5).
        interval_fraction: fraction of the other images whose nearest-patch distances are
            averaged (0.3).
        rescore_k: RsCIN neighbourhood sizes (MVTec AD (1, 2, 3), VisA (1, 8, 9); () off).
        feature_store: None (memory), ``'disk'`` or a folder for the features of a set.
        chunk: images per block of the mutual scoring (bounds its memory).
        data_preprocessor: default normalises with the backbone's statistics.
        anomaly_threshold: image-score threshold of the verdict (None: no verdict).
        map_smoothing_sigma: Gaussian sigma of the output map (0 in evaluation).
    """

    def __init__(self, backbone: nn.Module | dict, *,
                 feature_layers: Sequence[int] = (5, 11, 17, 23),
                 aggregation_degrees: Sequence[int] = (1, 3, 5),
                 interval_fraction: float = 0.3, rescore_k: Sequence[int] = (1, 2, 3),
                 feature_store: str | None = None, chunk: int = 8,
                 data_preprocessor: dict | nn.Module | None = None,
                 anomaly_threshold: float | None = None, map_smoothing_sigma: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        stats_from_backbone = takes_backbone_statistics(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor or
                         dict(type='ovperception.OVDataPreprocessor'), init_cfg=init_cfg)
        self.backbone = backbone if isinstance(backbone, nn.Module) else MODELS.build(backbone)
        if stats_from_backbone:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        if not 0 < interval_fraction <= 1:
            raise ValueError(f'interval_fraction must be in (0, 1], got {interval_fraction}')
        if int(chunk) < 1:
            raise ValueError(f'chunk must be >= 1, got {chunk}')
        for r in aggregation_degrees:
            if int(r) < 1 or int(r) % 2 == 0:
                raise ValueError(f'aggregation degrees must be odd and >= 1, got {r}')
        self.feature_layers = tuple(int(i) for i in feature_layers)
        self.aggregation_degrees = tuple(int(r) for r in aggregation_degrees)
        self.interval_fraction = float(interval_fraction)
        self.rescore_k = tuple(int(k) for k in rescore_k)
        self.feature_store, self.chunk = feature_store, int(chunk)
        self.anomaly_threshold = anomaly_threshold
        self.map_smoothing_sigma = float(map_smoothing_sigma)
        self.background_words: tuple[str, ...] = ()  # OVPredictor compatibility
        self._sets: dict[str, ImageSet] = {}
        self._reference: dict[str, Any] | None = None

    def encode_vocabulary(self, classnames: list[str]) -> Tensor:
        """MuSc has no text side: checks that an object is named, returns (0,)."""
        object_name_of(OVDataSample(metainfo=dict(classnames=list(classnames))))
        return torch.zeros(0)

    # ---------------------------------------------------------------- features
    def encode(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """Per layer (B, width, h, w) layer-normalised token maps and (B, C) embeddings,
        from one ViT pass (as released)."""
        with torch.no_grad():
            maps, embeddings = self.backbone.dense_intermediates_and_embedding(
                images, self.feature_layers)
            embeddings = F.normalize(embeddings.float(), dim=-1)
        return [normalise_token_map(m) for m in maps], embeddings

    # ---------------------------------------------------------------- set API
    def add_to_set(self, inputs: Tensor | Sequence[Tensor], data_samples: SampleList) -> None:
        """Encode a batch and add each image to its object's set (scored by
        :meth:`score_sets`)."""
        images = OVModel.unpad(inputs, data_samples) if isinstance(inputs, Tensor) else inputs
        names = [object_name_of(s, i) for i, s in enumerate(data_samples)]
        for name in dict.fromkeys(names):
            members = [i for i, n in enumerate(names) if n == name]
            batch = torch.stack([images[i] for i in members])
            image_set = self._sets.setdefault(name, ImageSet(
                FeatureStore(len(self.feature_layers), self.feature_store)))
            size = tuple(batch.shape[-2:])
            if image_set.size not in (None, size):
                raise ValueError(f'MuSc needs the images of {name!r} at one size, got '
                                 f'{image_set.size} and {size}: use a fixed-size resize')
            image_set.size = size
            maps, embeddings = self.encode(batch)
            image_set.store.add(maps)
            image_set.embeddings.append(embeddings.cpu())
            image_set.samples.extend(data_samples[i] for i in members)

    def score_sets(self) -> list[OVDataSample]:
        """Score every object's set; returns the samples with predictions (order added)."""
        out = []
        try:
            for name, image_set in self._sets.items():
                maps, scores = self._score(image_set.store, torch.cat(image_set.embeddings),
                                           image_set.size)
                for sample, full, score in zip(image_set.samples, maps, scores):
                    self._fill(sample, full, score)
                out.extend(image_set.samples)
        finally:
            self.clear_sets()
        return out

    def clear_sets(self) -> None:
        """Drop the sets being collected (and their feature files)."""
        for image_set in self._sets.values():
            image_set.store.close()
        self._sets = {}

    def _score(self, store: FeatureStore, embeddings: Tensor,
               size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        return score_image_set(store, embeddings, size, self.aggregation_degrees,
                               self.interval_fraction, self.chunk, self.rescore_k)

    def _fill(self, sample: OVDataSample, full: Tensor, score: Tensor) -> None:
        if self.map_smoothing_sigma > 0:
            full = torch.from_numpy(smooth_anomaly_map(full.numpy(), self.map_smoothing_sigma))
        if not bool(torch.isfinite(full).all()) or not bool(torch.isfinite(score)):
            raise FloatingPointError(f'non-finite MuSc scores for '
                                     f'{sample.metainfo.get("img_path", "an image")}')
        sample.pred_anomaly_map = PixelData(data=full[None].float().cpu())
        sample.pred_score = score.detach().float().cpu()
        if self.anomaly_threshold is not None:
            sample.set_metainfo(dict(anomaly_threshold=float(self.anomaly_threshold),
                                     is_anomalous=bool(score >= self.anomaly_threshold)))

    # ---------------------------------------------------- fixed unlabeled set
    def set_unlabeled_images(self, images: Sequence[Tensor], batch_size: int = 8) -> None:
        """Remember a set of unlabeled (3, H, W) normalised images of one size: later
        single images (:meth:`encode_images` / :meth:`decode`, the demo, annotate) are
        scored against it; a member given again gets exactly its score within the set."""
        if len(images) < 1:
            raise ValueError('MuSc needs unlabeled images to score against')
        sizes = {tuple(image.shape[-2:]) for image in images}
        if len(sizes) > 1:
            raise ValueError(f'MuSc needs the unlabeled images at one size, got {sorted(sizes)}')
        self.clear_unlabeled_images()
        store = FeatureStore(len(self.feature_layers), self.feature_store)
        embeddings = []
        for start in range(0, len(images), batch_size):
            maps, emb = self.encode(torch.stack(list(images[start:start + batch_size])))
            store.add(maps)
            embeddings.append(emb.cpu())
        raw = None
        if store.count > 1:
            grid = tuple(store.read(0, 0, 1).shape[-2:])
            _, raw = upsampled_maps(set_patch_scores(store, self.aggregation_degrees,
                                                     self.interval_fraction, self.chunk),
                                    grid, sizes.pop())
        self._reference = dict(store=store, embeddings=torch.cat(embeddings), raw=raw)

    def clear_unlabeled_images(self) -> None:
        """Forget the fixed set."""
        if self._reference is not None:
            self._reference['store'].close()
        self._reference = None

    def encode_images(self, inputs: Tensor, data_samples: SampleList | None = None) -> dict:
        """Token maps and embeddings of a batch (scored by :meth:`decode`)."""
        images = OVModel.unpad(inputs, data_samples)
        sizes = {tuple(image.shape[-2:]) for image in images}
        if len(sizes) > 1:
            raise ValueError(f'MuSc needs images of one size, got {sorted(sizes)}')
        maps, embeddings = self.encode(torch.stack(list(images)))
        return dict(maps=maps, embeddings=embeddings.cpu(), size=sizes.pop())

    def decode(self, encoded: dict, data_samples: SampleList) -> list[OVDataSample]:
        """Score each encoded image against the fixed unlabeled set (one at a time)."""
        if self._reference is None:
            raise ValueError('MuSc scores an image against a set of unlabeled images of the '
                             'same object: run the demo on a folder, or give the set with '
                             '--cfg-options unlabeled_set=DIR (or tools/test.py on a dataset)')
        ref = self._reference
        for k, sample in enumerate(data_samples):
            extra = [m[k:k + 1] for m in encoded['maps']]
            stacked = StackedStore(ref['store'], extra)
            grid = tuple(extra[0].shape[-2:])
            embedding = encoded['embeddings'][k:k + 1]
            duplicate = (ref['embeddings'] - embedding).abs().amax(dim=1) < 1e-6  # (M,)
            excluded = torch.cat([duplicate, duplicate.new_zeros(1)])[None]
            patch = set_patch_scores(stacked, self.aggregation_degrees, self.interval_fraction,
                                     self.chunk, start=ref['store'].count, excluded=excluded)
            maps, raw = upsampled_maps(patch, grid, encoded['size'])
            keep = ~duplicate
            others_raw = ref['raw'][keep] if ref['raw'] is not None else raw.new_zeros(0)
            scores = rescore_with_neighbours(torch.cat([others_raw, raw]),
                                             torch.cat([ref['embeddings'][keep], embedding]),
                                             self.rescore_k)
            self._fill(sample, maps[0].float(), scores[-1])
        return list(data_samples)

    # ----------------------------------------------------------------- modes
    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Score the batch as one set per object name (each needs >= 2 images)."""
        self.clear_sets()
        self.add_to_set(inputs, data_samples)
        self.score_sets()
        return list(data_samples)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        raise RuntimeError('MuSc is training-free: evaluate it with tools/test.py')

    def forward(self, inputs: Tensor, data_samples: SampleList | None = None,
                mode: str = 'tensor') -> Any:
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        samples = self.predict(inputs, data_samples)
        return torch.stack([s.pred_anomaly_map.data for s in samples])



class StackedStore:
    """A :class:`FeatureStore` followed by a few extra images held in memory (read-only)."""

    def __init__(self, store: FeatureStore, extra: list[Tensor]) -> None:
        self.store, self.extra = store, extra
        self.num_layers = store.num_layers
        self.count = store.count + extra[0].shape[0]

    def read(self, layer: int, start: int, stop: int) -> Tensor:
        """(stop - start, C, h, w) rows of the store, then of the extra images."""
        n = self.store.count
        parts = []
        if start < n:
            parts.append(self.store.read(layer, start, min(stop, n)))
        if stop > n:
            parts.append(self.extra[layer][max(start - n, 0):stop - n])
        return torch.cat(parts) if len(parts) > 1 else parts[0]


def set_patch_scores(store: FeatureStore | StackedStore, degrees: Sequence[int] = (1, 3, 5),
                     fraction: float = 0.3, chunk: int = 8, start: int = 0,
                     excluded: Tensor | None = None) -> Tensor:
    """(N - start, L) float64 MuSc patch scores: mutual scores per layer and degree, averaged
    over layers, then over degrees (as released)."""
    total = None
    for r in degrees:
        per_layer = []
        for layer in range(store.num_layers):
            def read(a: int, b: int, layer: int = layer, r: int = r) -> Tensor:
                return aggregate_neighbourhood(store.read(layer, a, b), r)
            per_layer.append(mutual_scores(read, store.count, fraction, chunk, start,
                                           excluded))
        degree = torch.stack(per_layer).mean(dim=0)
        total = degree if total is None else total + degree
    return total / len(degrees)


def upsampled_maps(patch_scores: Tensor, grid: tuple[int, int],
                   size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """(N, H, W) maps (bilinear, ``align_corners=True``) and their (N,) maxima."""
    maps = F.interpolate(patch_scores.view(-1, 1, *grid), size=size, mode='bilinear',
                         align_corners=True)[:, 0]
    return maps, maps.flatten(1).max(dim=1).values


def score_image_set(store: FeatureStore, embeddings: Tensor, size: tuple[int, int],
                    degrees: Sequence[int] = (1, 3, 5), fraction: float = 0.3, chunk: int = 8,
                    rescore_k: Sequence[int] = (1, 2, 3)) -> tuple[Tensor, Tensor]:
    """MuSc on one set: (N, H, W) maps and (N,) re-scored image scores.

    Args:
        store: per layer (N, C, h, w) layer-normalised token maps.
        embeddings: (N, C) L2-normalised image embeddings (RsCIN).
        size: (H, W) of the output maps.
        degrees, fraction, chunk, rescore_k: as :class:`MuScModel`.
    """
    grid = tuple(store.read(0, 0, 1).shape[-2:])
    maps, raw = upsampled_maps(set_patch_scores(store, degrees, fraction, chunk), grid, size)
    return maps.float(), rescore_with_neighbours(raw, embeddings, rescore_k)
