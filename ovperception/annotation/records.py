"""The data every dataset format is written from: image records and their objects.

An :class:`ImageRecord` names one annotated image (a file of the input, or a frame of a
video saved as an image); an :class:`ObjectAnnotation` is one labelled object on it
(a box, a score and, when the task gives one, a mask). Both turn into plain JSON and back,
so finished work can be stored per input (the manifest) and merged later.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from ovperception.utils.annotations import mask_to_bbox, mask_to_rle, rle_to_crop, rle_to_mask

#: Decimals kept of every score (objects, anomaly image scores) and of box coordinates.
#: Float sums in a model depend on how work is split over threads, so raw scores differ
#: in about the 7th digit between thread counts; rounded, every format is byte-equal
#: whatever the thread count, unless a score lies within float noise of a rounding
#: boundary (differences of ~5e-7 against a 1e-4 step: about 1 score in 200).
SCORE_DECIMALS = 4
BOX_DECIMALS = 3


@dataclass
class ImageRecord:
    """One image of the dataset.

    Attributes:
        name: unique relative path of the image inside the dataset, mirroring the input's
            relative path (``'a/x.jpg'``; a video frame ``'clip.mp4/000012.png'``).
        flat_stem: unique file stem without folders for flat layouts (YOLO, VOC):
            ``'a__x'``; ``x.jpg`` and ``x.png`` of one folder become ``x_jpg`` / ``x_png``
            (see :func:`unique_names`); a video frame ``'clip__000012'``.
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
    pixels, optional ``score`` and optional mask. The score is rounded to
    :data:`SCORE_DECIMALS` decimals and the box to :data:`BOX_DECIMALS` (outputs that do not
    depend on the thread count).

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
        self.bbox = tuple(round(float(v), BOX_DECIMALS) for v in bbox)
        self.score = None if score is None else round(float(score), SCORE_DECIMALS)
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

    def mask_crop(self) -> tuple[np.ndarray, int, int] | None:
        """``(crop, x0, y0)``: the mask inside its tight box (decoded from RLE without a
        full-size array), or None without a mask."""
        if self._rle is not None:
            return rle_to_crop(self._rle)
        if self._mask is None:
            return None
        x0, y0, width, height = mask_to_bbox(self._mask)
        return self._mask[y0:y0 + height, x0:x0 + width], x0, y0

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


#: A flat stem that looks like a video frame's (``<video stem>__<6+ digits>``).
_FRAME_LIKE = re.compile(r'^(.*)__(\d{6,})$')


def frame_stem(video_stem: str, index: int) -> str:
    """Flat stem of frame ``index`` of the video whose flat stem is ``video_stem``."""
    return f'{video_stem}__{index:06d}'


def _flat(path: str, with_extension: bool) -> str:
    stem, ext = os.path.splitext(path.replace('\\', '/'))
    stem = stem.replace('/', '__')
    return f'{stem}_{ext.lstrip(".").lower()}' if with_extension and ext else stem


class FlatNameTable:
    """Every flat stem taken so far, compared case-insensitively (datasets travel to
    case-insensitive file systems), including the stems of all frames of every video:
    a video's stem ``v`` reserves ``v__<digits>``. :meth:`take` refuses a stem that is
    not free, so names taken through one table are unique by construction."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._videos: set[str] = set()
        self._frame_like_prefixes: set[str] = set()

    def is_free(self, stem: str, video: bool = False) -> bool:
        key = stem.casefold()
        if not stem or key in self._taken:
            return False
        match = _FRAME_LIKE.match(key)
        if match and match.group(1) in self._videos:  # a frame name of a taken video
            return False
        return not (video and key in self._frame_like_prefixes)  # its frames are taken

    def take(self, stem: str, video: bool = False) -> str:
        if not self.is_free(stem, video):
            raise ValueError(f'the flat name {stem!r} is taken')
        key = stem.casefold()
        self._taken.add(key)
        match = _FRAME_LIKE.match(key)
        if match:
            self._frame_like_prefixes.add(match.group(1))
        if video:
            self._videos.add(key)
        return stem


def unique_names(relative_paths: Sequence[str], videos: Collection[str] = (),
                 recorded: Mapping[str, str] | None = None) -> list[str]:
    """Flat file stems (folders joined with ``'__'``), unique by construction.

    Stems that collide case-insensitively (``x.jpg`` and ``x.png``; ``y.jpg`` and
    ``y.JPG``; ``a/b.jpg`` and ``a__b.jpg``) get the extension appended (``x_jpg``), then
    a counter (``x_jpg_2``) until the name is free. Each video in ``videos`` (paths of
    ``relative_paths`` whose frames are images) reserves the stems of all its frames
    (:func:`frame_stem`), so ``clip.mp4`` and an image ``clip__000000.png`` never share
    a name. ``recorded`` maps paths to the stems an earlier run gave them: they keep them
    (where still free), so a rerun gives every input the same name, and recorded paths
    absent now keep theirs reserved. The result depends only on the arguments, so every
    process of a sharded run computes the same.

    Returns:
        One stem per path, in the order given.
    """
    recorded = dict(recorded or {})
    videos = set(videos)
    table = FlatNameTable()
    result: dict[int, str] = {}
    for index, path in enumerate(relative_paths):
        stem = recorded.get(path)
        if stem is not None and table.is_free(stem, path in videos):
            result[index] = table.take(stem, path in videos)
    present = set(relative_paths)
    for path, stem in recorded.items():
        if path not in present and table.is_free(stem, path in videos):
            table.take(stem, path in videos)
    counts: dict[str, int] = {}
    for path in relative_paths:
        key = _flat(path, False).casefold()
        counts[key] = counts.get(key, 0) + 1
    for index, path in enumerate(relative_paths):
        if index in result:
            continue
        video = path in videos
        plain = _flat(path, False)
        stem = _flat(path, True) if counts[plain.casefold()] > 1 else plain
        candidate, number = stem, 1
        while not table.is_free(candidate, video):
            number += 1
            candidate = f'{stem}_{number}'
        result[index] = table.take(candidate, video)
    return [result[index] for index in range(len(relative_paths))]
