"""Gaussian smoothing of anomaly maps, shared by the metric and the model's output."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_anomaly_map(anomaly_map: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) float32 map filtered with ``scipy.ndimage.gaussian_filter(sigma)`` (0: a copy).

    AnomalyCLIP / APRIL-GAN smooth with sigma 4 before computing the metrics.
    """
    anomaly_map = np.asarray(anomaly_map, dtype=np.float32)
    if sigma <= 0:
        return anomaly_map.copy()
    return ndimage.gaussian_filter(anomaly_map, sigma=float(sigma))
