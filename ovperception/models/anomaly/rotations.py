"""AnomalyDINO's reference augmentation: rotations about the image centre (8 x 45 degrees)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

#: AnomalyDINO's angles (degrees, counter-clockwise as ``cv2.getRotationMatrix2D``).
ROTATION_ANGLES = (0, 45, 90, 135, 180, 225, 270, 315)


def rotate_uint8_image(image: np.ndarray, angle: float) -> np.ndarray:
    """(H, W, 3) uint8 image rotated by ``angle`` about its centre, same size, bilinear,
    borders reflected (``BORDER_REFLECT_101``), as AnomalyDINO's ``rotate_image``."""
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    return cv2.warpAffine(image, matrix, image.shape[1::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_DEFAULT)


def rotated_copies(images: Tensor, mean: Sequence[float], std: Sequence[float],
                   angles: Sequence[float] = ROTATION_ANGLES) -> Tensor:
    """(B * len(angles), 3, H, W): each normalised image rotated by every angle.

    The image is de-normalised to 0..255 and rounded to uint8 before rotating (the official
    code rotates the uint8 file image), then normalised again; image ``b``'s rotations are
    rows ``b * len(angles) ...``.
    """
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(3, 1, 1)
    out = []
    for image in images:
        rgb = (image * std_t + mean_t).round().clamp(0, 255).byte()
        array = np.ascontiguousarray(rgb.permute(1, 2, 0).cpu().numpy())
        for angle in angles:
            rotated = torch.from_numpy(rotate_uint8_image(array, angle)).to(images.device)
            out.append((rotated.permute(2, 0, 1).to(images.dtype) - mean_t) / std_t)
    return torch.stack(out)
