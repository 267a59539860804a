"""Python API: build a model from a config and query it with any vocabulary.

Example::

    from ovperception.apis import init_model, OVPredictor
    model = init_model('configs/segmentation/sclip_vitb16_ade20k_336.py', device='cpu')
    predictor = OVPredictor(model)
    predictor.set_image('street.jpg')          # the backbone runs once here
    cars = predictor.predict(['car', 'road', 'sky'])
    people = predictor.predict(['person; pedestrian', 'bicycle'])
"""
from ovperception.apis.anomaly import (build_anomaly_predictor, calibrate_threshold,
                                     is_anomaly_config)
from ovperception.apis.folders import IMAGE_SUFFIXES, find_images, predict_images
from ovperception.apis.model import inference_pipeline, init_model
from ovperception.apis.predictor import OVPredictor

__all__ = ['IMAGE_SUFFIXES', 'OVPredictor', 'build_anomaly_predictor', 'calibrate_threshold',
           'find_images', 'inference_pipeline', 'init_model', 'is_anomaly_config',
           'predict_images']
