"""Anomaly helpers for the demo and scripts: build a predictor, calibrate a threshold.

Threshold calibration from normal images: every image of a folder of *normal*
examples is scored, and the threshold is the ``quantile`` of their image scores
(``1.0``, the default, is their maximum: no calibration image would be called
anomalous; ``0.99`` tolerates 1 % false alarms on images like them). Scores are
only comparable for the same model, object name and input size.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from tqdm import tqdm

from ovperception.apis.folders import find_images
from ovperception.apis.model import init_model
from ovperception.apis.options import type_name
from ovperception.apis.predictor import OVPredictor
from ovperception.models.anomaly.few_shot import preprocess_packed, remember_normal_images
from ovperception.utils.image_io import load_image


#: Model types that detect anomalies (per image, or MuSc's set scoring).
ANOMALY_MODELS = ('OVAnomalyModel', 'MuScModel')


def is_anomaly_config(config: str | Config) -> bool:
    """Whether a config builds an anomaly model (:data:`ANOMALY_MODELS`)."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    return type_name(cfg.model.get('type')) in ANOMALY_MODELS


def image_scores(predictor: OVPredictor, paths: Sequence[str],
                 vocabulary: Sequence[str]) -> np.ndarray:
    """(N,) image-level anomaly scores of ``paths`` for the object named by ``vocabulary``."""
    scores = []
    for path in tqdm(paths, desc='calibration images', disable=len(paths) < 2):
        predictor.set_image(path)
        scores.append(float(predictor.predict(list(vocabulary)).pred_score))
    return np.asarray(scores, dtype=np.float64)


def calibrate_threshold(scores: np.ndarray, quantile: float = 1.0) -> float:
    """Threshold = ``quantile`` of the image scores of normal images (1.0 = their max)."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f'calibration quantile must be in (0, 1], got {quantile}')
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError('no normal images to calibrate the threshold on')
    return float(np.quantile(scores, quantile))


def pack_images(predictor: OVPredictor, paths: Sequence[str]) -> list[dict]:
    """The images of ``paths`` through the predictor's pipeline (the config's resize)."""
    packed = []
    for path in tqdm(paths, desc='reference images', disable=len(paths) < 8):
        array = load_image(path)
        results = dict(img=array, img_path=path, ori_shape=array.shape[:2],
                       img_shape=array.shape[:2], classnames=['_'])
        for transform in predictor.pipeline:
            results = transform(results)
        packed.append(results)
    return packed


def set_few_shot_references(predictor: OVPredictor, paths: Sequence[str],
                            packed: Sequence[dict] | None = None) -> None:
    """Few-shot mode (WinCLIP+, AnomalyDINO): remember the patches of k normal images.

    The images go through the predictor's pipeline (the config's resize), so they share
    the patch grid of the images scored afterwards; ``packed``: their :func:`pack_images`
    when the caller has them already.
    """
    if not paths:
        raise ValueError('no reference images for the few-shot memory')
    remember_normal_images(predictor.model, pack_images(predictor, paths) if packed is None
                           else packed)
    print_log(f'few-shot memory: {len(paths)} normal reference images', logger='current')


def set_unlabeled_set(predictor: OVPredictor, paths: Sequence[str],
                      packed: Sequence[dict] | None = None) -> None:
    """MuSc: the unlabeled images (of one object) each later image is scored against;
    ``packed``: their :func:`pack_images` when the caller has them already."""
    model = predictor.model
    images = preprocess_packed(model, pack_images(predictor, paths) if packed is None
                               else packed)
    with torch.no_grad():
        model.set_unlabeled_images(images)
    print_log(f'MuSc: {len(paths)} unlabeled images to score against', logger='current')


def needs_reference_images(model: torch.nn.Module) -> str | None:
    """What a model compares each image against, or None: ``'references'`` (a few-shot head
    such as AnomalyDINO: k normal images) or ``'unlabeled set'`` (MuSc: other images of the
    same object, at least 2)."""
    if hasattr(model, 'set_unlabeled_images'):
        return 'unlabeled set'
    if getattr(getattr(model, 'head', None), 'needs_references', False):
        return 'references'
    return None


def set_reference_images(predictor: OVPredictor, paths: Sequence[str],
                         packed: Sequence[dict] | None = None) -> None:
    """Give a model that :func:`needs_reference_images` its images (few-shot references or
    MuSc's unlabeled set); ``packed``: their :func:`pack_images` when the caller has them
    already (each image is then read and resized once however often the set changes)."""
    if needs_reference_images(predictor.model) == 'unlabeled set':
        if len(paths) < 2:
            raise ValueError('MuSc scores each image against other unlabeled images of the '
                             f'same object, got {len(paths)}: give at least 2')
        set_unlabeled_set(predictor, paths, packed)
    else:
        set_few_shot_references(predictor, paths, packed)


def config_references(cfg: Config, key: str = 'few_shot_references') -> list[str]:
    """The images of the folder a config names under ``key`` (few-shot configs set
    ``few_shot_references``, MuSc configs ``unlabeled_set``, None by default;
    ``--cfg-options KEY=DIR`` fills it in annotate and the web app)."""
    folder = cfg.get(key)
    if not folder:
        return []
    paths = find_images(str(folder))
    if not paths:
        raise ValueError(f'{key} {folder!r} holds no images')
    return paths


def evaluation_sigma(cfg: Config) -> float:
    """The Gaussian sigma the config's ``AnomalyMetric`` smooths maps with (0 if none)."""
    evaluator = cfg.get('test_evaluator') or cfg.get('val_evaluator') or {}
    if isinstance(evaluator, (list, tuple)):
        evaluator = next((e for e in evaluator if 'gaussian_sigma' in e), {})
    return float(evaluator.get('gaussian_sigma', 0.0) or 0.0)


def build_anomaly_predictor(config: str | Config, weights: str | None, device: str,
                            vocabulary: Sequence[str], threshold: float | None = None,
                            normal_paths: Sequence[str] = (), quantile: float = 1.0,
                            cfg_options: dict | None = None,
                            reference_paths: Sequence[str] = (),
                            smoothing_sigma: float | None = None,
                            unlabeled_paths: Sequence[str] = (),
                            images_given_later: bool = False) -> OVPredictor:
    """An :class:`OVPredictor` over an anomaly model whose verdict uses ``threshold``,
    or a threshold calibrated on ``normal_paths`` (which wins when both are given);
    ``reference_paths`` (default: the config's ``few_shot_references`` folder) fill the
    few-shot memory first (WinCLIP+, AnomalyDINO; a head that needs them refuses to start
    without). ``unlabeled_paths`` (default: the config's ``unlabeled_set`` folder) are
    MuSc's set of unlabeled images that every image is scored against.

    Output maps are smoothed with ``smoothing_sigma`` (default: the model's
    ``map_smoothing_sigma`` if set, else the sigma of the config's ``AnomalyMetric``, so the
    heatmap is the map the metrics see; scores are unaffected).

    ``images_given_later``: build a few-shot or MuSc model without its images (the web app
    sets them from the user's uploads with :func:`set_reference_images` before scoring).
    """
    model = init_model(config, weights, device, cfg_options=cfg_options)
    if smoothing_sigma is None:  # the model config's own setting, else the metric's
        smoothing_sigma = model.map_smoothing_sigma or evaluation_sigma(model.cfg)
    if smoothing_sigma < 0:
        raise ValueError(f'anomaly map smoothing sigma must be >= 0, got {smoothing_sigma}')
    model.map_smoothing_sigma = float(smoothing_sigma)
    reference_paths = list(reference_paths) or config_references(model.cfg)
    if images_given_later:
        return OVPredictor(model)
    if hasattr(model, 'set_unlabeled_images'):  # MuSc: a set of images to score against
        unlabeled_paths = list(unlabeled_paths) or config_references(model.cfg,
                                                                     'unlabeled_set')
        if len(unlabeled_paths) < 2:
            raise ValueError('MuSc scores each image against other unlabeled images of the '
                             f'same object, got {len(unlabeled_paths)}: give a folder of at '
                             'least 2 images (the demo on a folder uses it) or '
                             '--cfg-options unlabeled_set=DIR')
    if getattr(getattr(model, 'head', None), 'needs_references', False) and not reference_paths:
        raise ValueError(f'{type(model.head).__name__} is few-shot: give normal reference '
                         'images (--few-shot-normal DIR, or --cfg-options '
                         'few_shot_references=DIR)')
    predictor = OVPredictor(model)
    if hasattr(model, 'set_unlabeled_images'):
        set_unlabeled_set(predictor, unlabeled_paths)
    if reference_paths:
        set_few_shot_references(predictor, reference_paths)
    if normal_paths:
        scores = image_scores(predictor, normal_paths, vocabulary)
        threshold = calibrate_threshold(scores, quantile)
        print_log(f'anomaly threshold {threshold:.4f}: quantile {quantile} of the scores of '
                  f'{len(scores)} normal images (min {scores.min():.4f}, max '
                  f'{scores.max():.4f})', logger='current')
    model.anomaly_threshold = threshold
    return predictor
