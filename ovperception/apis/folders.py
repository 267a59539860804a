"""Image files of a path (one image, or a folder walked recursively) and folder inference."""
from __future__ import annotations

from typing import Iterator, Sequence

from ovperception.apis.predictor import OVPredictor
from ovperception.models.ov_model import OVModel
from ovperception.structures import OVDataSample
from ovperception.utils.image_files import IMAGE_SUFFIXES, find_images

__all__ = ['IMAGE_SUFFIXES', 'find_images', 'predict_images']


def predict_images(model: OVModel, paths: Sequence[str],
                   vocabulary: Sequence[str] | str) -> Iterator[tuple[str, OVDataSample]]:
    """Yield ``(path, sample)`` for each image of ``paths`` with one vocabulary."""
    predictor = OVPredictor(model)
    for path in paths:
        predictor.set_image(path)
        yield path, predictor.predict(vocabulary)
