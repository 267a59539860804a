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


@dataclass
class ObjectAnnotation:
    """One object: class index ``label`` into the vocabulary, box ``(x1, y1, x2, y2)`` in
    pixels, optional ``score`` and optional (H, W) bool ``mask``."""

    label: int
    bbox: tuple[float, float, float, float]
    score: float | None = None
    mask: np.ndarray | None = None

    def to_json(self) -> dict:
        return dict(label=int(self.label), bbox=[float(v) for v in self.bbox],
                    score=None if self.score is None else float(self.score),
                    mask=None if self.mask is None else mask_to_rle(self.mask))

    @classmethod
    def from_json(cls, data: dict) -> 'ObjectAnnotation':
        mask = data.get('mask')
        return cls(label=int(data['label']), bbox=tuple(float(v) for v in data['bbox']),
                   score=data.get('score'), mask=None if mask is None else rle_to_mask(mask))


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
