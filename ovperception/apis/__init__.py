"""Python API: build a model from a config and query it with any vocabulary.

Example::

    from ovperception.apis import init_model, OVPredictor
    model = init_model('configs/segmentation/sclip_vitb16_ade20k_336.py', device='cpu')
    predictor = OVPredictor(model)
    predictor.set_image('street.jpg')          # the backbone runs once here
    cars = predictor.predict(['car', 'road', 'sky'])
    people = predictor.predict(['person; pedestrian', 'bicycle'])
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ovperception.utils.cli import lazy_attributes

#: public name -> the module defining it; imported on first use, so that ``import
#: ovperception.apis`` (and every command's start-up) does not load torch and the models.
_LOCATIONS = {
    'build_anomaly_predictor': 'ovperception.apis.anomaly',
    'calibrate_threshold': 'ovperception.apis.anomaly',
    'is_anomaly_config': 'ovperception.apis.anomaly',
    'IMAGE_SUFFIXES': 'ovperception.apis.folders',
    'find_images': 'ovperception.apis.folders',
    'predict_images': 'ovperception.apis.folders',
    'inference_pipeline': 'ovperception.apis.model',
    'init_model': 'ovperception.apis.model',
    'OVPredictor': 'ovperception.apis.predictor',
}

__all__ = sorted(_LOCATIONS)

if TYPE_CHECKING:
    from ovperception.apis.anomaly import (build_anomaly_predictor, calibrate_threshold,
                                         is_anomaly_config)
    from ovperception.apis.folders import IMAGE_SUFFIXES, find_images, predict_images
    from ovperception.apis.model import inference_pipeline, init_model
    from ovperception.apis.predictor import OVPredictor


__getattr__ = lazy_attributes(globals(), _LOCATIONS)
