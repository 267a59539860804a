"""AnomalyDINO's zero-shot foreground mask: threshold the first principal component.

For one image's patch features ``X`` (N, C): the first principal component ``pc = (X -
mean(X)) v`` (``v`` the top right-singular vector of the centred features, its sign fixed so
that its largest-magnitude entry is positive: scikit-learn >= 1.5's ``PCA`` convention);
foreground = ``pc > threshold``; when the centre crop (``border`` cut from every side) is
mostly background (at most 35 % foreground) the sign is flipped (``-pc > threshold``); then a
3x3 dilation and a 3x3 closing fill holes and widen the mask slightly. As released these
run on the (h*w, 1) column of patches in raster order (a 1-D morphology along the rows of
the grid that also joins the end of one row to the start of the next), not on the 2-D grid.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor


def first_principal_component(features: Tensor) -> Tensor:
    """(N,) projections of (N, C) features on their first principal axis (float32)."""
    x = features.float()
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axis = vh[0]
    axis = axis * torch.sign(axis[axis.abs().argmax()])
    return centred @ axis


def foreground_mask(features: Tensor, grid: tuple[int, int], threshold: float = 10.0,
                    border: float = 0.2, kernel_size: int = 3) -> Tensor:
    """(h*w,) bool foreground patches of one image.

    Args:
        features: (h*w, C) patch features (not L2-normalised: the threshold is in their
            units; AnomalyDINO's 10 is for DINOv2's final-norm tokens).
        grid: (h, w).
        threshold: on the first principal component.
        border: fraction cut from each side for the centre test.
        kernel_size: of the dilation and closing.
    """
    pc = first_principal_component(features).cpu().numpy()
    mask = pc > threshold
    h, w = grid
    centre = mask.reshape(grid)[int(h * border):int(h * (1 - border)),
                                int(w * border):int(w * (1 - border))]
    if centre.sum() <= centre.size * 0.35:
        mask = -pc > threshold
    # as released: the morphology runs on the (h*w, 1) column of patches in raster order,
    # i.e. along rows of the grid and across row ends, not on the 2-D grid
    kernel = np.ones((kernel_size, kernel_size), np.uint8)
    column = cv2.dilate(mask.reshape(-1, 1).astype(np.uint8), kernel)
    column = cv2.morphologyEx(column, cv2.MORPH_CLOSE, kernel).astype(bool)
    return torch.from_numpy(column.reshape(-1)).to(features.device)
