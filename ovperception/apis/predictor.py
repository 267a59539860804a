"""The predictor: encode an image once, then answer any number of vocabularies."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ovperception.apis.model import inference_pipeline
from ovperception.models.clip.vocabulary import (Vocabulary, background_words_without_classes,
                                                 parse_vocabulary_string)
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.models.vocabulary_free import ChosenName
from ovperception.registry import TRANSFORMS
from ovperception.structures import OVDataSample
from ovperception.utils.image_io import load_image


def chosen_name_records(chosen: Sequence[ChosenName]) -> list[dict]:
    """The JSON records (``name``, ``score``, ``coverage``; 4 decimals) of chosen names, as
    the ``chosen_names`` metainfo and ``chosen_names.json`` store them."""
    return [dict(name=c.name, score=round(c.score, 4), coverage=round(c.coverage, 4))
            for c in chosen]


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
        if not array.flags.writeable:  # PIL's pixels (read-only bytes): one writable copy,
            array = array.copy()  # which the packed input then shares (the bytes are freed)
        self.image = array
        height, width = array.shape[:2]
        # OVModel normalises window by window: the image stays uint8 (4x less memory), and
        # the packed (3, H, W) input is a view of ``array`` (no second copy of a huge image)
        keep_uint8 = isinstance(self.model, OVModel) and isinstance(
            self.model.data_preprocessor, OVDataPreprocessor)
        results = dict(img=array, img_path=path, ori_shape=(height, width),
                       img_shape=(height, width), classnames=['_'],
                       share_image_memory=keep_uint8)
        for transform in self.pipeline:
            results = transform(results)
        sample: OVDataSample = results['data_samples']
        data = self.model.data_preprocessor(
            dict(inputs=[results['inputs']], data_samples=[sample]), False,
            **({'keep_uint8': True} if keep_uint8 else {}))
        with torch.no_grad():
            self._encoded = self.model.encode_images(data['inputs'], data['data_samples'])
        self._metainfo = {k: v for k, v in sample.metainfo.items() if k != 'classnames'}

    def release_features(self) -> None:
        """Free the encoded windows of the last :meth:`set_image` (a huge image's window
        features take ~0.2 GB), keeping :attr:`image` and its metainfo for the writers.
        :meth:`predict` then needs a new :meth:`set_image`."""
        self._encoded = None

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

    @property
    def vocabulary_free(self) -> bool:
        """Whether the model can choose an image's vocabulary itself (``predict(None)``)."""
        return getattr(self.model, 'vocabulary_selector', None) is not None

    def choose_vocabulary(self) -> list[ChosenName]:
        """The names the model's vocabulary selector chooses for the current image."""
        if self._encoded is None:
            raise RuntimeError('call set_image() before choose_vocabulary()')
        if not self.vocabulary_free:
            raise ValueError('this config has no vocabulary selector (model.vocabulary_selector'
                             '): give a vocabulary, or use a vocabulary-free config such as '
                             'configs/segmentation/dense_cased_*.py')
        image = self._encoded.images[0]
        if image.dtype == torch.uint8:
            image = self.model.data_preprocessor.normalize(image)
        with torch.no_grad():
            return self.model.vocabulary_selector.choose(self.model.backbone, image)

    def predict(self, vocabulary: Sequence[str] | str | None,
                metainfo: dict | None = None) -> OVDataSample:
        """Predictions for ``vocabulary`` ("a, b; c" string or list of entries).

        ``vocabulary=None`` lets a vocabulary-free config choose the names
        (:meth:`choose_vocabulary`); they are in the prediction's ``chosen_names`` metainfo
        (name, score, coverage).
        ``metainfo`` adds per-image prompts the head reads, in working-image pixels like the
        datasets leave them (e.g. counting's ``exemplar_bboxes`` (E, 4) xyxy).
        """
        if self._encoded is None:
            raise RuntimeError('call set_image() before predict()')
        if vocabulary is None:  # vocabulary-free: the model chooses the names
            chosen = self.choose_vocabulary()
            prediction = self.predict([c.name for c in chosen], metainfo)
            prediction.set_metainfo(dict(chosen_names=chosen_name_records(chosen)))
            return prediction
        classnames = parse_vocabulary_string(vocabulary) if isinstance(vocabulary, str) \
            else list(vocabulary)
        kept, _ = background_words_without_classes(classnames, self.model.background_words)
        Vocabulary.parse(classnames, kept,  # fail early, clearly
                         shared_names=getattr(self.model, 'shared_names', False))
        sample = OVDataSample(metainfo=dict(self._metainfo, **(metainfo or {}),
                                            classnames=classnames))
        return self.model.decode(self._encoded, [sample])[0]
