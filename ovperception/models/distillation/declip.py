"""DeCLIP's decoupled self-distillation (xiaomoguhz/DeCLIP ``src/training/declip.py``).

The student is the CLIP tower being fine-tuned; its last block is split into

* **content** features (the ``declip`` / ``declip_qq`` dense mode): pooled over grid regions of
  the image (``roi_align``, 1x1, aligned), they are pulled towards the frozen original CLIP's
  global embedding of the same regions cropped out of the image
  (``loss_content = 1 - cos``);
* **context** features (the last block's queries, with ``context='csa'`` also the keys): their
  patch-to-patch cosine similarities, resized to the teacher's grid, are pulled towards those
  of a vision foundation model (DINO / DINOv2) (``loss_context`` = mean L2 norm of the
  difference of the similarity rows).

Region boxes follow the official ``grid_distill`` data: per image one m x n grid is drawn
from the official choices (m in 1..max_split, n in [(m + 1) // 2, min(2m, max_split)]) and at
most ``max_boxes`` of its cells (shuffled) are the regions. The foundation model sees the image
resized so that its patch grid equals the student's (the official proxy resolution
``det_image_size / 16 * vfm patch``).
"""
from __future__ import annotations

import copy
import random
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

from ovperception.models.ov_model import OVModel
from ovperception.registry import MODELS

CONTEXT_MODES = ('qq', 'csa')


def grid_boxes(height: int, width: int, rows: int, cols: int) -> Tensor:
    """(rows * cols, 4) pixel boxes ``x1, y1, x2, y2`` of an even grid over an image."""
    ys = torch.linspace(0, height, rows + 1)
    xs = torch.linspace(0, width, cols + 1)
    return torch.stack([torch.stack([xs[c], ys[r], xs[c + 1], ys[r + 1]])
                        for r in range(rows) for c in range(cols)])


def grid_choices(max_split: int) -> list[tuple[int, int]]:
    """The official (m rows, n columns) grid choices up to ``max_split``."""
    return [(m, n) for m in range(1, max_split + 1)
            for n in range((m + 1) // 2, min(2 * m, max_split) + 1)]


def self_similarity(features: Tensor) -> Tensor:
    """(B, C, h, w) -> (B, h*w, h*w) cosine similarities between locations."""
    flat = F.normalize(features.flatten(2), dim=1)
    return torch.einsum('bcm,bcn->bmn', flat, flat)


def region_features(feature_map: Tensor, boxes: list[Tensor], image_size: tuple[int, int]
                    ) -> Tensor:
    """Mean features of pixel ``boxes`` per image on a (B, C, h, w) map -> (N, C).

    Boxes are scaled to the map like the official ``_denormalize_boxes`` and pooled with
    ``roi_align(output 1x1, spatial_scale 1, sampling_ratio -1, aligned=True)``.
    """
    height, width = image_size
    scale = feature_map.new_tensor([feature_map.shape[-1] / width, feature_map.shape[-2] / height,
                                    feature_map.shape[-1] / width, feature_map.shape[-2] / height])
    scaled = [b.to(feature_map) * scale for b in boxes]
    return roi_align(feature_map, scaled, (1, 1), 1.0, -1, True)[..., 0, 0]


def crop_regions(images: Tensor, boxes: list[Tensor], size: int) -> Tensor:
    """The pixel ``boxes`` cut out of (B, 3, H, W) images and resized to ``size`` -> (N, 3,
    size, size) (bilinear), the teacher's view of every region."""
    crops = []
    for image, image_boxes in zip(images, boxes):
        for x1, y1, x2, y2 in image_boxes.round().long().tolist():
            crop = image[:, y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
            crops.append(F.interpolate(crop[None], size=(size, size), mode='bilinear',
                                       align_corners=False))
    return torch.cat(crops)


@MODELS.register_module()
class DeCLIPDistiller(OVModel):
    """``OVModel`` whose ``loss`` fine-tunes its CLIP tower by DeCLIP's distillation.

    The two teachers are kept outside the module tree (frozen, never saved, moved to the
    input's device on first use): a trained checkpoint holds the student only and loads into
    a plain ``OVModel`` with the same backbone (the DeCLIP segmentation configs).

    Args:
        backbone: the student ``OpenCLIPBackbone`` (``frozen=False``, a no-residual dense mode
            such as ``declip``); the original CLIP teacher is a frozen copy of it taken here.
        head: head used for validation / prediction.
        vfm: the vision foundation model teacher, a ``DINOEncoder`` (or config).
        trainable_blocks: vision blocks trained, counted from the last (official
            ``--lock-image-unlocked-groups``); everything else is frozen.
        max_split: largest number of grid rows / columns (official ``--max-split``, 6).
        max_boxes: at most this many grid cells per image (official ``--max-boxes``, 20).
        crop_size: side of the teacher's region crops (the tower's native input).
        context: ``'qq'`` (queries; the released training script's ``qq_vfm_distill``) or
            ``'csa'`` (mean of the query and key similarities, ``csa_vfm_distill``).
        content_weight, context_weight: loss weights (script: 1.0 and 0.1).
        seed: seed of the grid draws (None: Python's global generator).
        **kwargs: ``OVModel`` options.
    """

    def __init__(self, backbone: nn.Module | dict, head: nn.Module | dict, *,
                 vfm: nn.Module | dict, trainable_blocks: int = 12,
                 max_split: int = 6, max_boxes: int = 20, crop_size: int = 224,
                 context: str = 'qq', content_weight: float = 1.0,
                 context_weight: float = 0.1, seed: int | None = None, **kwargs) -> None:
        super().__init__(backbone, head, **kwargs)
        if context not in CONTEXT_MODES:
            raise ValueError(f'context must be one of {CONTEXT_MODES}, got {context!r}')
        if not hasattr(self.backbone, 'decoupled_features'):
            raise TypeError('DeCLIPDistiller needs an OpenCLIPBackbone student, got '
                            f'{type(self.backbone).__name__}')
        if max_split < 1 or max_boxes < 1:
            raise ValueError(f'max_split and max_boxes must be positive, got {max_split}, '
                             f'{max_boxes}')
        self.context, self.crop_size = context, int(crop_size)
        self.choices, self.max_boxes = grid_choices(int(max_split)), int(max_boxes)
        self.content_weight, self.context_weight = float(content_weight), float(context_weight)
        self._random = random.Random(seed)
        teacher = copy.deepcopy(self.backbone)
        teacher.frozen = True
        for param in teacher.parameters():
            param.requires_grad_(False)
        self._teachers = (teacher.eval(),
                          vfm if isinstance(vfm, nn.Module) else MODELS.build(vfm))
        self.backbone.frozen = False
        self.trainable_blocks = self._unlock_last_blocks(int(trainable_blocks))

    def _unlock_last_blocks(self, count: int) -> int:
        """Freeze the student except its last ``count`` vision blocks; returns how many."""
        visual = self.backbone.visual
        blocks = (visual.trunk.blocks if hasattr(visual, 'trunk')
                  else visual.transformer.resblocks)
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        count = max(0, min(count, len(blocks)))
        for block in list(blocks)[len(blocks) - count:]:
            for param in block.parameters():
                param.requires_grad_(True)
        self.backbone.train(self.training)
        return count

    @property
    def clip_teacher(self) -> nn.Module:
        """The frozen original CLIP (content targets)."""
        return self._teachers[0]

    @property
    def vfm(self) -> nn.Module:
        """The frozen vision foundation model (context targets)."""
        return self._teachers[1]

    def region_boxes(self, batch: int, height: int, width: int) -> list[Tensor]:
        """Per image the shuffled cells (at most ``max_boxes``) of one random grid choice."""
        boxes = []
        for _ in range(batch):
            cells = grid_boxes(height, width, *self._random.choice(self.choices))
            order = list(range(len(cells)))
            self._random.shuffle(order)
            boxes.append(cells[order[:self.max_boxes]])
        return boxes

    def distillation_losses(self, images: Tensor) -> dict[str, Tensor]:
        """``loss_content`` and ``loss_context`` of a (B, 3, H, W) normalised batch."""
        for teacher in self._teachers:
            if next(teacher.parameters()).device != images.device:
                teacher.to(images.device)
        height, width = images.shape[-2:]
        boxes = self.region_boxes(images.shape[0], height, width)
        content, q, k, grid = self.backbone.decoupled_features(images)
        student_regions = F.normalize(region_features(content, boxes, (height, width)), dim=-1)
        with torch.no_grad():
            targets = self.clip_teacher.image_embedding(
                crop_regions(images, boxes, self.crop_size))
            patch = self.vfm.patch_size
            proxy = F.interpolate(images, size=(grid[0] * patch, grid[1] * patch),
                                  mode='bilinear', align_corners=False)
            vfm = self.vfm(proxy, self.backbone.mean, self.backbone.std).patches
        loss_content = 1.0 - (student_regions * targets).sum(-1).mean()
        similarity = self._context_similarity(q, k, grid, tuple(vfm.shape[-2:]))
        loss_context = (self_similarity(vfm) - similarity).norm(p=2, dim=-1).mean()
        return dict(loss_content=loss_content * self.content_weight,
                    loss_context=loss_context * self.context_weight)

    def _context_similarity(self, q: Tensor, k: Tensor, grid: tuple[int, int],
                            target_grid: tuple[int, int]) -> Tensor:
        """Student patch similarities (B, M, M) on the teacher's grid from (B, h*w, D) q / k."""
        def on_teacher_grid(tokens: Tensor) -> Tensor:
            maps = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)
            if tuple(grid) != target_grid:
                maps = F.interpolate(maps, size=target_grid, mode='bilinear',
                                     align_corners=False)
            return self_similarity(maps)

        if self.context == 'qq':
            return on_teacher_grid(q)
        return (on_teacher_grid(q) + on_teacher_grid(k)) / 2.0

    def loss(self, inputs: Tensor, data_samples: object = None) -> dict[str, Tensor]:
        """Distillation losses on the normalised batch; no labels or vocabulary are used."""
        return self.distillation_losses(inputs)
