"""Dataset formats by name: each a pure function from image records and objects to files.

A writer takes ``(records, objects, class_names, out_dir)`` -- ``objects[i]`` belongs to
``records[i]`` -- writes its files atomically under ``out_dir`` and returns their paths.
The web app and ``tools/annotate.py`` call writers through :func:`write_dataset`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ovperception.annotation.records import ImageRecord, ObjectAnnotation

WriteDataset = Callable[[Sequence[ImageRecord], Sequence[Sequence[ObjectAnnotation]],
                         Sequence[str], str], list[str]]


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
                  out_dir: str) -> list[str]:
    """Write the dataset of format ``name`` into ``out_dir``; return the written paths."""
    if len(records) != len(objects):
        raise ValueError(f'{len(records)} image records but {len(objects)} object lists')
    return DATASET_FORMATS[name].write(records, objects, list(class_names), out_dir)
