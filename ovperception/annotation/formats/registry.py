"""Dataset formats by name: each a pure function from image records and objects to files.

A writer takes ``(records, objects, class_names, out_dir, options)`` -- ``objects[i]``
belongs to ``records[i]``; ``options`` an :class:`ExportOptions` -- writes its files
atomically under ``out_dir`` and returns their paths.
The web app and ``tools/annotate.py`` call writers through :func:`write_dataset`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence
from urllib.parse import quote

from ovperception.annotation.records import ImageRecord, ObjectAnnotation



@dataclass(frozen=True)
class ExportOptions:
    """How datasets refer to their images.

    Attributes:
        copy_images: YOLO ``images/`` and VOC ``JPEGImages/`` hold copies of the images
            (a dataset folder that can be moved or archived alone) instead of relative
            symlinks (no disk space, but they point back at the inputs).
        image_root: Label Studio ``data.image`` is this prefix + the image's path
            relative to ``image_base``, URL-quoted (``/data/local-files/?d=`` for
            Label Studio's local-file serving, ``http://host:8081/`` for a served
            folder); None: the absolute local path.
        image_base: the folder that ``image_root`` stands for (default ``/``).
    """

    copy_images: bool = False
    image_root: str | None = None
    image_base: str = os.sep

    def image_url(self, image_path: str) -> str:
        """The reference of an image for tools that open it by URL (Label Studio).

        Raises:
            ValueError: the image lies outside ``image_base``.
        """
        if self.image_root is None:
            return image_path
        relative = os.path.relpath(os.path.abspath(image_path), os.path.abspath(self.image_base))
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise ValueError(f'the image {image_path} lies outside --image-base '
                             f'{self.image_base}')
        return self.image_root + quote(relative.replace(os.sep, '/'))


WriteDataset = Callable[[Sequence[ImageRecord], Sequence[Sequence[ObjectAnnotation]],
                         Sequence[str], str, ExportOptions], list[str]]


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset writer with its name and a one-line description."""

    name: str
    description: str
    write: WriteDataset


DATASET_FORMATS: dict[str, DatasetFormat] = {}


def register_format(name: str, description: str) -> Callable[[WriteDataset], WriteDataset]:
    """Decorator registering a dataset writer under ``name``."""

    def register(write: WriteDataset) -> WriteDataset:
        if name in DATASET_FORMATS:
            raise KeyError(f'a dataset format {name!r} is already registered')
        DATASET_FORMATS[name] = DatasetFormat(name, description, write)
        return write

    return register


def parse_formats(text: str) -> list[str]:
    """``'coco,yolo'`` -> ``['coco', 'yolo']``; ValueError naming unknown formats."""
    names = [n.strip().lower() for n in text.split(',') if n.strip()]
    unknown = [n for n in names if n not in DATASET_FORMATS]
    if unknown or not names:
        raise ValueError(f'unknown dataset format(s) {unknown or [text]}; choose from '
                         f'{", ".join(DATASET_FORMATS)}')
    return list(dict.fromkeys(names))


def write_dataset(name: str, records: Sequence[ImageRecord],
                  objects: Sequence[Sequence[ObjectAnnotation]], class_names: Sequence[str],
                  out_dir: str, options: ExportOptions | None = None) -> list[str]:
    """Write the dataset of format ``name`` into ``out_dir``; return the written paths."""
    if len(records) != len(objects):
        raise ValueError(f'{len(records)} image records but {len(objects)} object lists')
    return DATASET_FORMATS[name].write(records, objects, list(class_names), out_dir,
                                       options or ExportOptions())
