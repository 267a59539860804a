"""OVAnomalyModel: frozen CLIP + anomaly head -> anomaly map, image score, verdict."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.utils.smoothing import smooth_anomaly_map
from ovperception.models.clip.vocabulary import split_synonyms
from ovperception.models.ov_model import OVModel
from ovperception.models.modes import ModeDispatchMixin
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                   takes_backbone_statistics)


def _build(module: nn.Module | dict) -> nn.Module:
    return module if isinstance(module, nn.Module) else MODELS.build(module)


def object_name_of(sample: OVDataSample, index: int = 0) -> str:
    """The object a sample shows: the first name of its vocabulary (``--vocab "screw"``)."""
    classnames = sample.metainfo.get('classnames')
    if not classnames:
        raise ValueError(f'sample {index} ({sample.metainfo.get("img_path", "in memory")}) has '
                         'no object name: set metainfo "classnames" (e.g. ["screw"], --vocab)')
    return split_synonyms(classnames[0])[0]


@dataclass
class EncodedAnomalyImages:
    """Head features of a batch, reusable for several object names.

    Attributes:
        groups: ((sample indices), features) per group of equally sized images.
        image_sizes: per image, its (H, W) working size.
    """

    groups: list[tuple[list[int], Any]]
    image_sizes: list[tuple[int, int]]


@MODELS.register_module()
class OVAnomalyModel(ModeDispatchMixin, BaseModel):
    """Zero-shot anomaly detection and localisation with a frozen CLIP.

    Each sample's object name is the first entry of its metainfo ``classnames``
    (the dataset sets it from the category, the demo from ``--vocab``). Predictions:
    ``pred_anomaly_map`` (``PixelData`` (1, H, W) in [0, 1] at the working size) and
    ``pred_score`` (scalar); with ``anomaly_threshold`` set, metainfo
    ``anomaly_threshold`` and ``is_anomalous`` (score >= threshold) too.

    Few-shot (WinCLIP+): :meth:`set_normal_references` remembers k normal images, for
    every image or, with ``object_name``, only for that object's images (one memory per
    category, filled by ``FewShotMemoryHook`` in ``tools/test.py``).

    Args:
        backbone: an ``OpenCLIPBackbone`` (config).
        head: ``WinCLIPHead`` / ``AnomalyCLIPHead`` / ``AdaCLIPHead`` / ``AnomalyDINOHead``
            (config; the latter on a ``DINOEncoder`` backbone). A head with
            ``image_conditioned_text`` (AdaCLIP) scores through ``score_object(backbone,
            features, object_name)``.
        data_preprocessor: batch collator; default normalises with the backbone's stats.
        anomaly_threshold: image-score threshold of the verdict (None: no verdict).
        map_smoothing_sigma: Gaussian sigma (pixels at the working size) applied to the
            output map; 0 for evaluation, where ``AnomalyMetric.gaussian_sigma`` smooths
            (the demo sets it to the config's metric sigma so both show the same map).
        init_cfg: mmengine init config.
    """

    def __init__(self, backbone: nn.Module | dict, head: nn.Module | dict, *,
                 data_preprocessor: dict | nn.Module | None = None,
                 anomaly_threshold: float | None = None,
                 map_smoothing_sigma: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        stats_from_backbone = takes_backbone_statistics(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor or
                         dict(type='ovperception.OVDataPreprocessor'), init_cfg=init_cfg)
        self.backbone = _build(backbone)
        self.head = _build(head)
        if stats_from_backbone:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        self.anomaly_threshold = anomaly_threshold
        if map_smoothing_sigma < 0:
            raise ValueError(f'map_smoothing_sigma must be >= 0, got {map_smoothing_sigma}')
        self.map_smoothing_sigma = float(map_smoothing_sigma)
        self.normal_memories: dict[str, Any] = {}  # object name -> head features (few-shot)
        self.background_words: tuple[str, ...] = ()  # OVPredictor compatibility

    @property
    def is_trainable(self) -> bool:
        """Whether any parameter would receive a gradient (AnomalyCLIP's prompts)."""
        return any(p.requires_grad for p in self.parameters())

    # ------------------------------------------------------------------ text
    def encode_vocabulary(self, classnames: list[str]) -> Tensor:
        """(2, C) [normal, anomalous] embeddings of the object named by ``classnames[0]``."""
        sample = OVDataSample(metainfo=dict(classnames=list(classnames)))
        with torch.no_grad():
            return self.head.text_embeddings(self.backbone, object_name_of(sample))

    # ---------------------------------------------------------------- images
    def encode_images(self, inputs: Tensor,
                      data_samples: SampleList | None = None) -> EncodedAnomalyImages:
        """Run the head's image side once per group of equally sized images."""
        images = OVModel.unpad(inputs, data_samples)
        sizes = [tuple(img.shape[-2:]) for img in images]
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, size in enumerate(sizes):
            by_size.setdefault(size, []).append(index)
        # per-object memories need the patch features the head otherwise may skip
        extra = dict(with_patches=True) if self.normal_memories else {}
        groups = [(indices, self.head.encode(self.backbone,
                                             torch.stack([images[i] for i in indices]), **extra))
                  for indices in by_size.values()]
        return EncodedAnomalyImages(groups, sizes)

    def decode(self, encoded: EncodedAnomalyImages,
               data_samples: SampleList) -> list[OVDataSample]:
        """Score every sample against its own object's state prompts; fill predictions."""
        names = [object_name_of(s, i) for i, s in enumerate(data_samples)]
        with torch.no_grad():
            for indices, features in encoded.groups:
                for name in dict.fromkeys(names[i] for i in indices):
                    members = [k for k, i in enumerate(indices) if names[i] == name]
                    if getattr(self.head, 'image_conditioned_text', False):  # AdaCLIP
                        maps, scores = self.head.score_object(
                            self.backbone, features.select(members), name)
                        self._fill_all(data_samples, indices, members, maps, scores, encoded)
                        continue
                    text = self.head.text_embeddings(self.backbone, name)
                    memory = self.normal_memories.get(name)
                    extra = {} if memory is None else dict(memory=memory)
                    if getattr(self.head, 'needs_object_name', False):
                        extra['object_name'] = name  # per-object settings (AnomalyDINO)
                    maps, scores = self.head.score(features.select(members), text, **extra)
                    self._fill_all(data_samples, indices, members, maps, scores, encoded)
        return list(data_samples)

    def _fill_all(self, data_samples: SampleList, indices: list[int], members: list[int],
                  maps: Tensor, scores: Tensor, encoded: EncodedAnomalyImages) -> None:
        for k, grid_map, score in zip(members, maps, scores):
            self._fill(data_samples[indices[k]], grid_map, score,
                       encoded.image_sizes[indices[k]])

    def _fill(self, sample: OVDataSample, grid_map: Tensor, score: Tensor,
              size: tuple[int, int]) -> None:
        full = F.interpolate(grid_map[None, None].float(), size=size, mode='bilinear',
                             align_corners=False)[0]
        if self.map_smoothing_sigma > 0:
            full = torch.from_numpy(smooth_anomaly_map(full[0].cpu().numpy(),
                                                       self.map_smoothing_sigma))[None]
        if not bool(torch.isfinite(full).all()) or not bool(torch.isfinite(score)):
            raise FloatingPointError(f'non-finite anomaly scores for '
                                     f'{sample.metainfo.get("img_path", "an image")}: check '
                                     'the weights and the input')
        sample.pred_anomaly_map = PixelData(data=full.cpu())
        sample.pred_score = score.detach().float().cpu()
        if self.anomaly_threshold is not None:
            sample.set_metainfo(dict(anomaly_threshold=float(self.anomaly_threshold),
                                     is_anomalous=bool(score >= self.anomaly_threshold)))

    # ------------------------------------------------------------- few-shot
    def set_normal_references(self, inputs: Tensor | Sequence[Tensor],
                              object_name: str | None = None) -> None:
        """Few-shot (WinCLIP+, AnomalyDINO): remember k normal images.

        Args:
            inputs: (k, 3, H, W) normalised, equally sized images (the test resize), or a
                list of (3, H_i, W_i) images of several sizes (heads with a patch bank,
                AnomalyDINO: one bank over all of them).
            object_name: use the memory only for this object's images (replacing an earlier
                one of the same name); None: for every image without its own memory.
        """
        if not hasattr(self.head, 'set_memory'):
            raise NotImplementedError(f'{type(self.head).__name__} has no few-shot memory')
        groups: dict[tuple[int, int], list[Tensor]] = {}
        for image in inputs:
            groups.setdefault(tuple(image.shape[-2:]), []).append(image)
        if hasattr(self.head, 'encode_references'):  # AnomalyDINO: augmented patch bank
            features = torch.cat([self.head.encode_references(self.backbone, torch.stack(group),
                                                              object_name)
                                  for group in groups.values()])
        elif len(groups) > 1:
            raise ValueError(f'few-shot references of {type(self.head).__name__} must share '
                             f'one size after the pipeline, got {sorted(groups)}')
        else:
            features = self.head.encode(self.backbone, torch.stack(next(iter(groups.values()))),
                                        with_patches=True)
        if object_name is None:
            self.head.set_memory(features)
        else:
            self.head.check_memory(features)
            self.normal_memories[object_name] = features

    # ----------------------------------------------------------------- modes
    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Fill ``pred_anomaly_map`` and ``pred_score`` of every sample."""
        return self.decode(self.encode_images(inputs, data_samples), data_samples)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """The head's losses (AnomalyCLIP); training-free heads refuse."""
        if not self.is_trainable:
            raise RuntimeError(f'{type(self.head).__name__} is training-free; evaluate it with '
                               'tools/test.py')
        return self.head.loss(self.backbone, inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: SampleList | None = None) -> Tensor:
        """Tensor mode: (B, 1, H, W) anomaly maps (needs samples carrying the object name)."""
        if not data_samples:
            raise ValueError('tensor mode needs data samples carrying "classnames"')
        samples = self.predict(inputs, data_samples)
        return torch.stack([s.pred_anomaly_map.data for s in samples])
