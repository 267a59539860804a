"""ExCEL's pseudo-masks from refined class maps (building blocks): class maps upsampled to the
label size, a background score, PAR pixel-adaptive refinement, argmax.

PAR (official ``utils/PAR.py``, from ToCo): each pixel's scores are averaged over its 8
neighbours at dilations (1, 2, 4, 8, 12, 24) for ``num_iter`` rounds, weighted by a softmax of
colour differences (normalised by the neighbourhood's standard deviation, temperature 0.3,
mean over the colour channels) plus 0.01 x a softmax of the neighbours' distances.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PAR_DILATIONS = (1, 2, 4, 8, 12, 24)
PAR_ITERATIONS = 20
_COLOUR_TEMPERATURE = 0.3
_POSITION_WEIGHT = 0.01


def _neighbour_kernel() -> Tensor:
    """(8, 1, 3, 3) one-hot kernels picking the 8 neighbours of a 3 x 3 window."""
    kernel = torch.zeros(8, 1, 3, 3)
    for index, (row, col) in enumerate((r, c) for r in range(3) for c in range(3)
                                       if (r, c) != (1, 1)):
        kernel[index, 0, row, col] = 1
    return kernel


def _neighbours(x: Tensor, dilations: Sequence[int]) -> Tensor:
    """(B, C, H, W) -> (B, C, 8 * len(dilations), H, W) neighbour values (replicate padding)."""
    b, c, h, w = x.shape
    kernel = _neighbour_kernel().to(x)
    out = []
    for d in dilations:
        padded = F.pad(x, [d] * 4, mode='replicate').reshape(b * c, 1, h + 2 * d, w + 2 * d)
        out.append(F.conv2d(padded, kernel, dilation=d).view(b, c, -1, h, w))
    return torch.cat(out, dim=2)


def pixel_adaptive_refinement(images: Tensor, scores: Tensor,
                              dilations: Sequence[int] = PAR_DILATIONS,
                              num_iter: int = PAR_ITERATIONS) -> Tensor:
    """PAR of (B, K, H, W) ``scores`` guided by (B, 3, h, w) ``images`` (resized to H x W,
    bilinear, align_corners=True, as the official code)."""
    images = F.interpolate(images.float(), size=scores.shape[-2:], mode='bilinear',
                           align_corners=True)
    b, _, h, w = images.shape
    around = _neighbours(images, dilations)
    distance = torch.ones(1, 1, 8, 1, 1)
    distance[0, 0, [0, 2, 5, 7]] = float(np.sqrt(2))  # the diagonal neighbours
    position = torch.cat([distance * d for d in dilations], dim=2).to(images)
    position = position.repeat(b, 1, 1, h, w)
    colour = -((around - images.unsqueeze(2)).abs()
               / (around.std(dim=2, keepdim=True) + 1e-8) / _COLOUR_TEMPERATURE) ** 2
    place = -(position / (position.std(dim=2, keepdim=True) + 1e-8) / _COLOUR_TEMPERATURE) ** 2
    affinity = colour.mean(1, keepdim=True).softmax(2) + _POSITION_WEIGHT * place.softmax(2)
    scores = scores.float()
    for _ in range(num_iter):
        scores = (_neighbours(scores, dilations) * affinity).sum(2)
    return scores


def class_maps_at(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """(n, h, w) maps min-max normalised each and resized to ``size`` (H, W) by OpenCV's
    bilinear resize (the official ``scale_cam_image``)."""
    out = []
    for m in maps.detach().cpu().float().numpy():
        m = m - m.min()
        m = m / (1e-7 + m.max())
        out.append(torch.from_numpy(cv2.resize(m, (size[1], size[0]))))
    return torch.stack(out).to(maps.device)


def pseudo_labels(refined_maps: Tensor, image: Tensor, classes: Sequence[int],
                  size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """((H, W) labels, (1 + n, H, W) scores): 0 = background, ``c + 1`` for class index
    ``c`` of ``classes``; background score ``1 - max`` of the class maps, PAR on the scores.

    Args:
        refined_maps: (n, h, w) maps of the n present classes.
        image: (3, h', w') the network input (normalised), PAR's guide.
        size: (H, W) of the labels.
    """
    maps = class_maps_at(refined_maps, size)
    scores = torch.cat([1 - maps.max(0, keepdim=True).values, maps])
    keys = torch.tensor([0] + [c + 1 for c in classes], device=scores.device)
    refined = pixel_adaptive_refinement(image[None], scores[None])
    return keys[refined.argmax(1)[0]], scores
