"""Dataset formats by name: each a pure function from image records and objects to files.

A writer takes ``(records, objects, class_names, out_dir, options, reuse)`` --
``objects[i]`` belongs to ``records[i]``; ``options`` an :class:`ExportOptions`; ``reuse``
a :class:`Reuse` or None -- writes its files atomically under ``out_dir`` and returns
their paths.
The web app and ``tools/annotate.py`` call writers through :func:`write_dataset`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
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


@dataclass
class Reuse:
    """What a rewrite may take over from the dataset it replaces (``tools/annotate.py``'s
    incremental merge), so that its cost is proportional to the new or changed records.

    Attributes:
        keys: one key per record, different whenever anything the record's output is made
            of changed (its name, flat stem, image path, input hash, the options, the
            class names, the export options and the format).
        parts: ``{key: part}`` of the previous write: the serialised per-record fragment
            of a whole-file format (COCO images and annotations, a Label Studio task, a
            CVAT image element); for a per-image format (YOLO, VOC) the list of that
            record's files (relative paths), current in ``previous_dir``. Writers fill
            in every record's part.
        previous_dir: the dataset folder being replaced (per-image files of records in
            ``parts`` are hard-linked from it: same inode, nothing re-encoded), or None.
    """

    keys: Sequence[str]
    parts: dict[str, Any] = field(default_factory=dict)
    previous_dir: str | None = None

    def part(self, index: int, compute: Callable[[], Any]) -> Any:
        """The stored part of record ``index``, else ``compute()`` (then stored)."""
        key = self.keys[index]
        if key not in self.parts:
            self.parts[key] = compute()
        return self.parts[key]

    def link_previous(self, index: int, out_dir: str) -> list[str] | None:
        """Hard-link the files of record ``index`` (paths relative to the dataset folder,
        as stored by a per-image format) from ``previous_dir`` into ``out_dir`` when the
        record is unchanged and they all exist; the linked paths, else None."""
        files = self.parts.get(self.keys[index])
        if self.previous_dir is None or not isinstance(files, list) or not all(
                os.path.lexists(os.path.join(self.previous_dir, f)) for f in files):
            return None
        try:
            for relative in files:
                target = os.path.join(out_dir, relative)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.lexists(target):
                    os.unlink(target)
                os.link(os.path.join(self.previous_dir, relative), target,
                        follow_symlinks=False)
        except OSError:  # no hard links here: the writer writes the files again
            return None
        return files


def reused_part(reuse: 'Reuse | None', index: int, compute: Callable[[], Any]) -> Any:
    """``reuse.part(index, compute)``, or ``compute()`` without ``reuse``."""
    return compute() if reuse is None else reuse.part(index, compute)


WriteDataset = Callable[..., list[str]]


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
                  out_dir: str, options: ExportOptions | None = None,
                  reuse: Reuse | None = None) -> list[str]:
    """Write the dataset of format ``name`` into ``out_dir``; return the written paths.
    ``reuse``: parts of the previous write to take over (see :class:`Reuse`)."""
    if len(records) != len(objects):
        raise ValueError(f'{len(records)} image records but {len(objects)} object lists')
    if reuse is not None and len(reuse.keys) != len(records):
        raise ValueError(f'{len(records)} image records but {len(reuse.keys)} reuse keys')
    return DATASET_FORMATS[name].write(records, objects, list(class_names), out_dir,
                                       options or ExportOptions(), reuse)
