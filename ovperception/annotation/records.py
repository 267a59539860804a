"""The data every dataset format is written from: image records and their objects.

An :class:`ImageRecord` names one annotated image (a file of the input, or a frame of a
video saved as an image); an :class:`ObjectAnnotation` is one labelled object on it
(a box, a score and, when the task gives one, a mask). Both turn into plain JSON and back,
so finished work can be stored per input (the manifest) and merged later.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ovperception.utils.annotations import mask_to_rle, rle_to_mask


@dataclass
class ImageRecord:
    """One image of the dataset.

    Attributes:
        name: unique relative path of the image inside the dataset, mirroring the input's
            relative path (``'a/x.jpg'``; a video frame ``'clip.mp4/000012.png'``).
        flat_stem: unique file stem without folders for flat layouts (YOLO, VOC):
            ``'a__x'``; ``x.jpg`` and ``x.png`` of one folder become ``x_jpg`` / ``x_png``.
        image_path: absolute path of the image file (the input, or the saved frame).
        height, width: image size in pixels.
        source: the input the image came from (the image itself, or the video).
        frame_index: index of the frame in the video (None for still images).
        timestamp: seconds from the start of the video (None for still images).
        extra: task-level values (anomaly ``score``, per-class ``counts``).
    """

    name: str
    flat_stem: str
    image_path: str
    height: int
    width: int
    source: str
    frame_index: int | None = None
    timestamp: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> 'ImageRecord':
        return cls(**data)


class ObjectAnnotation:
    """One object: class index ``label`` into the vocabulary, box ``(x1, y1, x2, y2)`` in
    pixels, optional ``score`` and optional mask.

    The mask is held either as an (H, W) bool array or as COCO RLE (what the manifest
    stores); :attr:`mask` decodes RLE on each access without keeping the array, so a
    merge of many images holds only compressed masks in memory. Test :attr:`has_mask`
    rather than ``mask is not None`` to avoid a decode.
    """

    __slots__ = ('label', 'bbox', 'score', '_mask', '_rle')

    def __init__(self, label: int, bbox: tuple[float, float, float, float],
                 score: float | None = None, mask: np.ndarray | None = None,
                 rle: dict | None = None) -> None:
        self.label = int(label)
        self.bbox = tuple(float(v) for v in bbox)
        self.score = None if score is None else float(score)
        self._mask = None if mask is None else np.asarray(mask, bool)
        self._rle = rle

    @property
    def has_mask(self) -> bool:
        return self._mask is not None or self._rle is not None

    @property
    def mask(self) -> np.ndarray | None:
        """(H, W) bool mask (decoded from RLE when stored so), or None."""
        if self._mask is not None:
            return self._mask
        return None if self._rle is None else rle_to_mask(self._rle)

    @property
    def rle(self) -> dict | None:
        """COCO compressed RLE ``{"size": [H, W], "counts": str}`` of the mask, or None."""
        if self._rle is not None:
            return self._rle
        return None if self._mask is None else mask_to_rle(self._mask)

    def __repr__(self) -> str:
        return (f'ObjectAnnotation(label={self.label}, bbox={self.bbox}, score={self.score}, '
                f'has_mask={self.has_mask})')

    def to_json(self) -> dict:
        return dict(label=self.label, bbox=list(self.bbox), score=self.score, mask=self.rle)

    @classmethod
    def from_json(cls, data: dict) -> 'ObjectAnnotation':
        return cls(label=data['label'], bbox=data['bbox'], score=data.get('score'),
                   rle=data.get('mask'))


def unique_names(relative_paths: list[str]) -> list[str]:
    """Flat, unique file stems for relative paths (folders joined with ``'__'``).

    Stems that collide (``x.jpg`` and ``x.png``; ``a/b.jpg`` and ``a__b.jpg``) get the
    extension appended (``x_jpg``), then a counter if they still collide. The result
    depends only on the full list, so every process of a sharded run computes the same.

    Returns:
        One stem per path, in the order given.
    """
    def flat(path: str, with_ext: bool) -> str:
        stem, ext = os.path.splitext(path.replace('\\', '/'))
        stem = stem.replace('/', '__')
        return f'{stem}_{ext.lstrip(".").lower()}' if with_ext and ext else stem

    plain = [flat(p, False) for p in relative_paths]
    counts: dict[str, int] = {}
    for stem in plain:
        counts[stem] = counts.get(stem, 0) + 1
    stems = [flat(p, True) if counts[s] > 1 else s for p, s in zip(relative_paths, plain)]
    seen: dict[str, int] = {}
    result = []
    for stem in stems:
        index = seen.get(stem, 0)
        seen[stem] = index + 1
        result.append(stem if index == 0 else f'{stem}_{index}')
    return result
