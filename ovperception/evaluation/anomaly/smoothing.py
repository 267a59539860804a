"""Deprecated import path (kept for one release): use ``ovperception.utils.smoothing``."""
from ovperception.utils.smoothing import smooth_anomaly_map  # noqa: F401
