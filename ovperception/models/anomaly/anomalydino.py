"""AnomalyDINO (Damm et al., 2024): few-shot patch nearest neighbours on DINOv2 features.

As the official code (dammsi/AnomalyDINO ``src/detection.py``, ``src/backbones.py``):

* features: DINOv2's final-norm patch tokens (``get_intermediate_layers(x)[0]``) of the
  image cropped at the bottom / right to a multiple of the patch size (not padded);
* memory: the patches of the k normal references, each optionally augmented by 8 rotations
  (``rotation``), optionally only their foreground patches (``mask_references``);
* patch score: cosine distance ``1 - cos`` to the nearest memory patch (``knn`` > 1: the
  mean over the k nearest), computed on L2-normalised features;
* zero-shot foreground masking (:mod:`.foreground`, per object: ``masking``): background
  patches of the test image get distance 0;
* image score: the mean of the top 1 % of the h*w patch distances (the maximum when h*w <
  100);
* map: the patch distances on the grid, upsampled bilinearly to the image (the metric or
  the demo smooths it with sigma 4).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.anomaly.foreground import foreground_mask
from ovperception.models.anomaly.prompts import object_name as category_object_name
from ovperception.models.anomaly.rotations import ROTATION_ANGLES, rotated_copies
from ovperception.models.data_preprocessor import IMAGENET_MEAN, IMAGENET_STD
from ovperception.registry import MODELS



@dataclass
class PatchFeatures:
    """L2-normalised patch features of a batch, with their foreground masks on demand.

    Attributes:
        grid: (h, w) patch grid.
        patches: (B, h*w, C) L2-normalised patch features.
        tokens: (B, h*w, C) the patch tokens before the normalisation (the masks' input).
        mask_threshold: threshold of the masks on the first principal component.
    """

    grid: tuple[int, int]
    patches: Tensor
    tokens: Tensor
    mask_threshold: float = 10.0
    _foreground: Tensor | None = field(default=None, repr=False)

    @property
    def foreground(self) -> Tensor:
        """(B, h*w) bool foreground masks (AnomalyDINO's PCA masking), computed on first use:
        a run with masking off never pays for the PCA."""
        if self._foreground is None:
            with torch.no_grad():
                self._foreground = torch.stack([
                    foreground_mask(tokens, self.grid, self.mask_threshold)
                    for tokens in self.tokens])
        return self._foreground

    def select(self, indices: Sequence[int]) -> PatchFeatures:
        """The features of a subset of the batch."""
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.patches.device)
        foreground = None if self._foreground is None else self._foreground[idx]
        return PatchFeatures(self.grid, self.patches[idx], self.tokens[idx], self.mask_threshold,
                             foreground)


def per_object(setting: bool | Mapping[str, bool], name: str | None, default: bool) -> bool:
    """A per-object switch: a bool for every object, or {category or object name: bool}
    (names not listed, and ``name`` None, get ``default``)."""
    if isinstance(setting, bool):
        return setting
    if name is None:
        return default
    table = {category_object_name(key): bool(value) for key, value in setting.items()}
    table.update({key: bool(value) for key, value in setting.items()})
    return table.get(name, default)


def mean_top_fraction(distances: Tensor, fraction: float = 0.01) -> Tensor:
    """(B,) mean of the largest ``int(N * fraction)`` of each row of (B, N) (max if 0)."""
    count = int(distances.shape[1] * fraction)
    if count == 0:
        return distances.max(dim=1).values
    return distances.topk(count, dim=1).values.mean(dim=1)


def nearest_neighbour_distances(patches: Tensor, bank: Tensor, knn: int = 1,
                                chunk: int = 4096) -> Tensor:
    """(N,) mean ``1 - cos`` of each of (N, C) normalised patches to its ``knn`` nearest of
    (M, C) normalised memory patches (chunks of ``chunk`` patches bound the memory)."""
    if bank.shape[0] < knn:
        raise ValueError(f'AnomalyDINO knn={knn} but the memory holds only {bank.shape[0]} '
                         'patches')
    out = []
    for start in range(0, patches.shape[0], chunk):
        similarity = patches[start:start + chunk] @ bank.T
        out.append(1 - similarity.topk(knn, dim=1).values.mean(dim=1))
    return torch.cat(out) if out else patches.new_zeros(0)


@MODELS.register_module()
class AnomalyDINOHead(nn.Module):
    """AnomalyDINO's training-free few-shot head on a :class:`DINOEncoder` (no text).

    Args:
        masking: zero-shot foreground masking of test images: a bool, or per object
            ``{category: bool}`` (the official 'agnostic' preset: ``MVTEC_MASKING``).
        rotation: augment the references by :data:`ROTATION_ANGLES`: a bool or per object.
        mask_references: keep only the foreground patches of the references (official
            ``--mask_ref_images``, default False).
        mask_threshold: threshold on the first principal component (10).
        knn: nearest neighbours averaged (1).
        top_fraction: image score = mean of this top fraction of patch distances (0.01).
        input_mean, input_std: the statistics the images were normalised with (0..255; the
            config's data preprocessor uses the same ImageNet ones).
        chunk: patches per similarity block (bounds the memory of the kNN search).
    """

    trainable = False
    needs_object_name = True
    needs_references = True

    def __init__(self, masking: bool | Mapping[str, bool] = False,
                 rotation: bool | Mapping[str, bool] = True, mask_references: bool = False,
                 mask_threshold: float = 10.0, knn: int = 1, top_fraction: float = 0.01,
                 input_mean: Sequence[float] = IMAGENET_MEAN,
                 input_std: Sequence[float] = IMAGENET_STD, chunk: int = 4096) -> None:
        super().__init__()
        if int(knn) < 1:
            raise ValueError(f'AnomalyDINO knn must be >= 1, got {knn}')
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f'top_fraction must be in (0, 1], got {top_fraction}')
        self.masking, self.rotation = masking, rotation
        self.mask_references = bool(mask_references)
        self.mask_threshold = float(mask_threshold)
        self.knn, self.top_fraction, self.chunk = int(knn), float(top_fraction), int(chunk)
        self.input_mean, self.input_std = tuple(input_mean), tuple(input_std)
        self.memory: Tensor | None = None

    # ------------------------------------------------------------------ text
    def text_embeddings(self, backbone: nn.Module, object_name: str) -> Tensor:
        """AnomalyDINO has no text side: an empty (0,) tensor."""
        return torch.zeros(0)

    # ----------------------------------------------------------------- image
    def encode(self, backbone: nn.Module, images: Tensor,
               with_patches: bool | None = None) -> PatchFeatures:
        """Normalised patch features of (B, 3, H, W) images, cropped to a multiple of the
        patch size (no grad); their foreground masks are computed only when read."""
        patch = backbone.patch_size
        height, width = images.shape[-2] // patch * patch, images.shape[-1] // patch * patch
        if height == 0 or width == 0:
            raise ValueError(f'images of {tuple(images.shape[-2:])} px are smaller than one '
                             f'{patch} px patch')
        with torch.no_grad():
            output = backbone(images[..., :height, :width], self.input_mean, self.input_std)
            tokens = output.patches.flatten(2).transpose(1, 2)  # (B, h*w, C)
        return PatchFeatures(tuple(output.grid), F.normalize(tokens, dim=-1), tokens,
                             self.mask_threshold)

    def encode_references(self, backbone: nn.Module, images: Tensor,
                          object_name: str | None = None) -> Tensor:
        """(M, C) memory: the normalised patches of the references (rotated copies with
        ``rotation``; only foreground patches with ``mask_references``)."""
        if per_object(self.rotation, object_name, default=True):
            images = rotated_copies(images, self.input_mean, self.input_std, ROTATION_ANGLES)
        features = self.encode(backbone, images)
        if self.mask_references:
            return features.patches[features.foreground]
        return features.patches.reshape(-1, features.patches.shape[-1])

    # ---------------------------------------------------------------- memory
    @staticmethod
    def check_memory(memory: Tensor) -> None:
        """Raise unless ``memory`` is a non-empty (M, C) patch bank."""
        if not isinstance(memory, Tensor) or memory.ndim != 2 or memory.shape[0] == 0:
            raise ValueError('AnomalyDINO references gave no patches (all masked out?)')

    def set_memory(self, memory: Tensor) -> None:
        """Use ``memory`` (from :meth:`encode_references`) for every image."""
        self.check_memory(memory)
        self.memory = memory

    def clear_memory(self) -> None:
        """Forget the references."""
        self.memory = None

    # ----------------------------------------------------------------- score
    def patch_distances(self, features: PatchFeatures, memory: Tensor,
                        object_name: str | None = None) -> Tensor:
        """(B, h*w) distances to the memory, 0 on background patches when masking."""
        if memory.shape[-1] != features.patches.shape[-1]:
            raise ValueError(f'AnomalyDINO references have {memory.shape[-1]}-d features, the '
                             f'images {features.patches.shape[-1]}-d: same backbone needed')
        b, n, c = features.patches.shape
        distances = nearest_neighbour_distances(features.patches.reshape(b * n, c),
                                                memory.to(features.patches.device),
                                                self.knn, self.chunk).view(b, n)
        if per_object(self.masking, object_name, default=False):
            distances = distances * features.foreground
        return distances

    def score(self, features: PatchFeatures, text: Tensor, memory: Tensor | None = None,
              object_name: str | None = None) -> tuple[Tensor, Tensor]:
        """Anomaly maps (B, h, w) of patch distances and image scores (B,).

        Raises:
            ValueError: no normal references were given.
        """
        memory = self.memory if memory is None else memory
        if memory is None:
            raise ValueError('AnomalyDINO is few-shot: give normal reference images '
                             '(demo --few-shot-normal DIR, tools/test.py FewShotMemoryHook '
                             'with k >= 1, folder datasets reference_dir)')
        distances = self.patch_distances(features, memory, object_name)
        return (distances.view(-1, *features.grid),
                mean_top_fraction(distances, self.top_fraction))

    def loss(self, backbone: nn.Module, images: Tensor, data_samples: list) -> dict:
        raise RuntimeError('AnomalyDINOHead is training-free: evaluate it with tools/test.py')

