"""The dense CRF computation on numpy arrays (``pydensecrf2``), shared by the in-process
:class:`~ovperception.models.refiners.dense_crf.DenseCRF` and its worker processes.

This module imports numpy and pydensecrf only (no torch, no models), so a worker process
that unpickles :func:`dense_crf_marginals` starts in well under a second; the serial and the
parallel paths run this one function on the same arrays, hence the same bits.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np

#: Floor of the probabilities in the unary (pydensecrf's ``unary_from_softmax``).
PROB_CLIP = 1e-5


def import_pydensecrf() -> tuple[ModuleType, ModuleType]:
    """(``pydensecrf.densecrf``, ``pydensecrf.utils``); a one-line error naming the extra."""
    try:
        import pydensecrf.densecrf as densecrf
        import pydensecrf.utils as crf_utils
    except ImportError as error:
        raise ModuleNotFoundError(
            "DenseCRF needs pydensecrf2: pip install 'ovperception[crf]' "
            f'(import failed: {error})') from None
    return densecrf, crf_utils


def dense_crf_marginals(probs: np.ndarray, rgb: np.ndarray, iter_max: int, pos_xy_std: float,
                        pos_w: float, bi_xy_std: float, bi_rgb_std: float,
                        bi_w: float) -> np.ndarray:
    """(K, H, W) float32 marginals of the fully connected CRF.

    Args:
        probs: (K, H, W) float32 class probabilities; the unary is ``-log(max(p, 1e-5))``.
        rgb: (H, W, 3) C-contiguous uint8 RGB image.
        iter_max, pos_xy_std, pos_w, bi_xy_std, bi_rgb_std, bi_w: as ``DenseCRF``.
    """
    densecrf, crf_utils = import_pydensecrf()
    num_classes, height, width = probs.shape
    unary = np.ascontiguousarray(crf_utils.unary_from_softmax(probs, clip=PROB_CLIP))
    crf = densecrf.DenseCRF2D(width, height, num_classes)
    crf.setUnaryEnergy(unary)
    crf.addPairwiseGaussian(sxy=pos_xy_std, compat=pos_w)
    crf.addPairwiseBilateral(sxy=bi_xy_std, srgb=bi_rgb_std, rgbim=rgb, compat=bi_w)
    return np.array(crf.inference(iter_max)).reshape(num_classes, height, width)
