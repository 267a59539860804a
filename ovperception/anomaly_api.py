"""Deprecated import path (kept for one release): use ``ovperception.apis`` (``apis/anomaly.py``)."""
import warnings

from ovperception.apis.anomaly import *  # noqa: F401,F403
from ovperception.apis.anomaly import (build_anomaly_predictor, calibrate_threshold,  # noqa: F401
                                       evaluation_sigma, image_scores, is_anomaly_config,
                                       set_few_shot_references)

warnings.warn('ovperception.anomaly_api is deprecated: use ovperception.apis',
              DeprecationWarning, stacklevel=2)
