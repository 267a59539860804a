"""LPOSS / LPOSS+ (Stojnic et al., CVPR 2025): label propagation over patches and pixels.

Training-free. For one image, with all its sliding windows together:

1. ``LPOSSBackbone``: each window (padded bottom/right with black to the patch size) gives
   MaskCLIP features (CLIP ViT, :class:`OpenCLIPBackbone` ``dense_mode='maskclip'``) and the
   last-block values ``v`` of a DINO ViT (:class:`DINOEncoder`), concatenated per patch.
2. ``LabelPropagationHead``: the initial scores are the cosine similarities of the MaskCLIP
   features with every name; one graph joins the patches of *all* windows: k nearest neighbours
   by DINO cosine, weights ``max(cos, 0)^gamma * exp(-sigma * |centre_i - centre_j|)`` (centres
   in image pixels), symmetrised; the scores are propagated over it
   (:mod:`~ovperception.models.segmentation.label_propagation`).
3. The propagated window scores are stitched (each window's grid stretched over the window,
   overlaps averaged); LPOSS+ then propagates them over the pixels (Lab colour affinities in a
   ``r x r`` neighbourhood). Synonyms take their maximum, the scores are bilinearly resized to
   the original image and the argmax is the label.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.base_head import BaseOVHead
from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.inference import stitch_lazily
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.models.refiners.dinoiser import pad_black
from ovperception.models.segmentation.class_scores import label_from_name_scores
from ovperception.models.segmentation.label_propagation import (knn_patch_graph, pixel_graph,
                                                                propagate)
from ovperception.models.stitched import DenseOutput, StitchedWindows, as_stitched
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

DINO_FEATURES = ('q', 'k', 'v')


@MODELS.register_module()
class LPOSSBackbone(CLIPWrapperBackbone):
    """MaskCLIP features and DINO last-block features of each window, concatenated.

    Follows the backbone contract (text, global embedding and statistics are CLIP's).

    Args:
        clip: an ``OpenCLIPBackbone`` ViT (LPOSS: ``dense_mode='maskclip'``) or its config.
        dino: a ``DINOEncoder`` or its config (LPOSS: DINO ViT-B/16).
        dino_features: which last-block features of DINO: ``'q'``, ``'k'`` or ``'v'`` (LPOSS).
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).

    ``dense_features`` returns (B, C + D, h, w): C MaskCLIP channels (``embed_dim``) then D
    DINO channels, on the DINO grid of the window padded to the patch sizes (the CLIP map is
    bilinearly resized to it when the grids differ).
    """

    def __init__(self, clip: nn.Module | dict, dino: nn.Module | dict, *,
                 dino_features: str = 'v',
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        if dino_features not in DINO_FEATURES:
            raise ValueError(f'dino_features must be one of {DINO_FEATURES}, '
                             f'got {dino_features!r}')
        super().__init__(clip, pretrained, method='LPOSS')
        self.dino = dino if isinstance(dino, nn.Module) else MODELS.build(dino)
        self.dino_features = dino_features
        self.patch_size = int(self.dino.patch_size)
        clip_patch = int(self.clip.patch_size)
        self.pad_multiple = clip_patch * self.patch_size // math.gcd(clip_patch, self.patch_size)

    @property
    def grid_placement(self) -> tuple[None, bool]:
        """Each window's grid is stretched over the window (the official resize of the padded
        window's output to the window size)."""
        return None, False

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) CLIP-normalised crops -> (B, C + D, ceil(H/p), ceil(W/p))."""
        images = pad_black(images, self.pad_multiple, self.clip.mean, self.clip.std)
        with torch.no_grad():
            clip = self.clip.dense_features(images)
            dino = self.dino(images, self.clip.mean, self.clip.std,
                             with_qkv=True).qkv_maps(self.dino_features)
        if clip.shape[-2:] != dino.shape[-2:]:
            clip = F.interpolate(clip, size=dino.shape[-2:], mode='bilinear',
                                 align_corners=False)
        return torch.cat([clip, dino.to(clip.dtype)], dim=1)


def patch_centres(windows: Sequence[tuple[int, int, int, int]], grid: tuple[int, int],
                  patch: int, device: torch.device) -> Tensor:
    """(n * h * w, 2) pixel centres ``(y0 + patch // 2 + i * patch, x0 + ...)`` of every cell
    of every window's (h, w) grid, windows first, rows then columns."""
    ys = torch.arange(grid[0], device=device) * patch + patch // 2
    xs = torch.arange(grid[1], device=device) * patch + patch // 2
    cell = torch.stack(torch.meshgrid(ys, xs, indexing='ij'), dim=-1).reshape(-1, 2)
    offsets = torch.tensor([(y0, x0) for y0, x0, _, _ in windows], device=device)
    return (offsets[:, None] + cell[None]).reshape(-1, 2)


@MODELS.register_module()
class LabelPropagationHead(BaseOVHead):
    """LPOSS (``pixel_refine=False``) and LPOSS+ (``pixel_refine=True``) on the windows of an
    image (see the module docstring); training-free.

    Args:
        alpha: propagation strength (official 0.95, both graphs).
        k: neighbours per patch (official 400; fewer patches than ``k``: all of them).
        gamma: power of the DINO cosine (official 3).
        sigma: spatial decay per pixel of distance (official 0.01).
        distance_power: power of the centre distance (official 1).
        pixel_refine: also propagate over the pixels (LPOSS+).
        radius_window: side ``r`` of the pixel neighbourhood (official 13: 6 pixels each way).
        tau: colour temperature of the pixel graph (official 0.01).
        cg_tol, cg_iterations: conjugate-gradient relative tolerance and steps (1e-6, 10).
        background_index: class index of pixels won by a configured background word; None
            labels them 255.
        return_logits: store the propagated class scores at ``ori_shape`` in ``seg_logits``
            (not probabilities: LPOSS has no softmax).
    """

    takes_stitched_windows = True  # predict() reads the windows of the lazy stitched map

    def __init__(self, *, alpha: float = 0.95, k: int = 400, gamma: float = 3.0,
                 sigma: float = 0.01, distance_power: float = 1.0, pixel_refine: bool = False,
                 radius_window: int = 13, tau: float = 0.01, cg_tol: float = 1e-6,
                 cg_iterations: int = 10, background_index: int | None = None,
                 return_logits: bool = False) -> None:
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f'alpha must lie in [0, 1), got {alpha}')
        if k < 1 or cg_iterations < 1 or radius_window < 1:
            raise ValueError('k, cg_iterations and radius_window must be positive')
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.alpha, self.k, self.gamma = float(alpha), int(k), float(gamma)
        self.sigma, self.distance_power = float(sigma), float(distance_power)
        self.pixel_refine, self.radius_window, self.tau = bool(pixel_refine), int(radius_window), \
            float(tau)
        self.cg_tol, self.cg_iterations = float(cg_tol), int(cg_iterations)
        self.background_index = background_index
        self.return_logits = bool(return_logits)

    @property
    def uses_images(self) -> bool:
        """LPOSS+ needs the (3, H, W) 0..255 RGB working-resolution images."""
        return self.pixel_refine

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, C + D, h, w) backbone output -> (B, N + D, h, w): the N name cosines of the
        MaskCLIP part, then the L2-normalised DINO part (propagated in ``predict``)."""
        embeddings = text.embeddings.to(device=feats.device, dtype=feats.dtype)
        channels = embeddings.shape[1]
        clip = F.normalize(feats[:, :channels], dim=1)
        cosine = torch.einsum('bchw,nc->bnhw', clip, embeddings)
        return torch.cat([cosine, F.normalize(feats[:, channels:], dim=1)], dim=1)

    def loss(self, feats: Tensor, text: TextEmbeddings,
             data_samples: SampleList) -> dict[str, Tensor]:
        raise RuntimeError('LPOSS is training-free: evaluate it with tools/test.py')

    def propagate_patches(self, stitched: StitchedWindows, num_names: int) -> StitchedWindows:
        """Patch-level propagation over all windows of one image -> stitched (N, H, W) scores."""
        outputs = stitched.outputs.float()
        count, _, height, width = outputs.shape
        scores = outputs[:, :num_names].permute(0, 2, 3, 1).reshape(-1, num_names)
        dino = outputs[:, num_names:].permute(0, 2, 3, 1).reshape(count * height * width, -1)
        centres = patch_centres(stitched.windows, (height, width), self._patch,
                                outputs.device)
        graph = knn_patch_graph(dino, centres, self.k, self.gamma, self.sigma,
                                self.distance_power)
        propagated = propagate(*graph, scores, self.alpha, self.cg_tol, self.cg_iterations)
        windows = propagated.float().reshape(count, height, width, num_names).permute(0, 3, 1, 2)
        return stitch_lazily(windows, stitched.windows, stitched.image_size, None, False)

    def propagate_pixels(self, scores: Tensor, image: Tensor) -> Tensor:
        """LPOSS+: (N, H, W) scores propagated over the pixels of the (3, H, W) 0..255 image."""
        num_names, height, width = scores.shape
        graph = pixel_graph(image.float() / 255.0, self.radius_window // 2, self.tau)
        flat = scores.permute(1, 2, 0).reshape(-1, num_names)
        out = propagate(*graph, flat, self.alpha, self.cg_tol, self.cg_iterations)
        return out.reshape(height, width, num_names).permute(2, 0, 1)

    _patch: int = 16

    def bind_backbone(self, backbone: nn.Module) -> None:
        """Read the patch size (for the patch centres) from the backbone."""
        self._patch = int(getattr(backbone, 'patch_size', 16))

    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Label maps at each sample's ``ori_shape``.

        Args:
            outputs: per sample, its lazily stitched windows of :meth:`forward` outputs.
            images: per sample, its (3, H, W) 0..255 RGB working-resolution image (LPOSS+).
        """
        if self.pixel_refine and (images is None or len(images) != len(outputs)):
            raise ValueError('LPOSS+ (pixel_refine) needs one image per output')
        num_names = text.embeddings.shape[0]
        for index, (output, sample) in enumerate(zip(outputs, data_samples)):
            scores = self.propagate_patches(as_stitched(output), num_names).dense()
            if self.pixel_refine:
                scores = self.propagate_pixels(scores, images[index])
            label_from_name_scores(sample, scores.double(), text, self.background_index,
                                   self.return_logits)
        return list(data_samples)
