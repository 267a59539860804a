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

import os
from typing import Iterator, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ovperception.models.checkpoint import load_model_state, prepare_config_for_weights
from ovperception.models.clip.vocabulary import Vocabulary, parse_vocabulary_string
from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.registry import MODELS, TRANSFORMS
from ovperception.structures import OVDataSample
from ovperception.utils.image_io import load_image

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
_SKIPPED_TRANSFORMS = ('LoadImageFromFile', 'LoadSegAnnotations', 'LoadAnnotations',
                       'LoadDetAnnotations')


def init_model(config: str | Config, weights: str | None = None, device: str = 'cpu', *,
               cfg_options: dict | None = None) -> OVModel:
    """Build the model of ``config``, load ``weights`` and put it in eval mode on ``device``."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'ovperception'))
    state = prepare_config_for_weights(cfg.model, weights) if weights else None
    model = MODELS.build(cfg.model)
    if state is not None:
        load_model_state(model, state, weights)
    model.cfg = cfg
    return model.to(device).eval()


def _type_name(transform: dict) -> str:
    kind = transform['type']
    return kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))


def inference_pipeline(cfg: Config) -> list:
    """The config's test pipeline minus file and annotation loading (images come in memory)."""
    dataloader = cfg.get('test_dataloader') or {}
    steps = (dataloader.get('dataset') or {}).get('pipeline') or [dict(type='PackOVInputs')]
    return [TRANSFORMS.build(dict(step)) for step in steps
            if _type_name(step).split('.')[-1] not in _SKIPPED_TRANSFORMS]


def find_images(path: str) -> list[str]:
    """One image path, or every image below a folder (sorted, hidden files skipped)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f'{path!r} is neither an image file nor a folder')
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        found.extend(os.path.join(root, f) for f in sorted(files)
                     if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith('.'))
    if not found:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) found in {path!r}')
    return found


class OVPredictor:
    """Encode an image once, then answer any number of vocabularies (SamPredictor-style).

    Args:
        model: an :class:`OVModel` (e.g. from :func:`init_model`).
        pipeline: transforms applied to the in-memory image; defaults to the
            config's test pipeline without the loaders.
    """

    def __init__(self, model: OVModel, pipeline: Sequence | None = None) -> None:
        self.model = model.eval()
        cfg = getattr(model, 'cfg', None)
        self.pipeline = list(pipeline) if pipeline is not None else (
            inference_pipeline(cfg) if cfg is not None else
            [TRANSFORMS.build(dict(type='ovperception.PackOVInputs'))])
        self._encoded: EncodedImages | None = None
        self._metainfo: dict = {}
        self.image: np.ndarray | None = None  # (H, W, 3) uint8 RGB of the last set_image

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def set_image(self, image: str | np.ndarray) -> None:
        """Load (path) or take (H, W, 3) uint8 RGB array, resize per the config, encode.

        Raises:
            ImageReadError / ImageTooLargeError: unreadable or oversized files.
        """
        path = image if isinstance(image, str) else None
        array = load_image(image) if isinstance(image, str) else self._check_array(image)
        self.image = array
        height, width = array.shape[:2]
        results = dict(img=array, img_path=path, ori_shape=(height, width),
                       img_shape=(height, width), classnames=['_'])
        for transform in self.pipeline:
            results = transform(results)
        sample: OVDataSample = results['data_samples']
        data = self.model.data_preprocessor(
            dict(inputs=[results['inputs']], data_samples=[sample]), False)
        with torch.no_grad():
            self._encoded = self.model.encode_images(data['inputs'], data['data_samples'])
        self._metainfo = {k: v for k, v in sample.metainfo.items() if k != 'classnames'}

    @staticmethod
    def _check_array(image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
                or image.dtype != np.uint8:
            raise ValueError('set_image expects a path or an (H, W, 3) uint8 RGB array, got '
                             f'{getattr(image, "shape", None)} {getattr(image, "dtype", None)}')
        return image

    @property
    def image_metainfo(self) -> dict:
        """Copy of the last :meth:`set_image`'s metainfo (``ori_shape``, ``img_shape``, ...)."""
        return dict(self._metainfo)

    def predict(self, vocabulary: Sequence[str] | str,
                metainfo: dict | None = None) -> OVDataSample:
        """Predictions for ``vocabulary`` ("a, b; c" string or list of entries).

        ``metainfo`` adds per-image prompts the head reads, in working-image pixels like the
        datasets leave them (e.g. counting's ``exemplar_bboxes`` (E, 4) xyxy).
        """
        if self._encoded is None:
            raise RuntimeError('call set_image() before predict()')
        classnames = parse_vocabulary_string(vocabulary) if isinstance(vocabulary, str) \
            else list(vocabulary)
        Vocabulary.parse(classnames, self.model.background_words)  # fail early, clearly
        sample = OVDataSample(metainfo=dict(self._metainfo, **(metainfo or {}),
                                            classnames=classnames))
        return self.model.decode(self._encoded, [sample])[0]


def predict_images(model: OVModel, paths: Sequence[str],
                   vocabulary: Sequence[str] | str) -> Iterator[tuple[str, OVDataSample]]:
    """Yield ``(path, sample)`` for each image of ``paths`` with one vocabulary."""
    predictor = OVPredictor(model)
    for path in paths:
        predictor.set_image(path)
        yield path, predictor.predict(vocabulary)
