"""The registry of output writers, keyed by the prediction field they read."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.atomic import ensure_not_input


class WriteFn(Protocol):
    """Writes the files of one prediction field.

    Args:
        targets: suffix -> output path, one per suffix the writer declared.
        image: (H, W, 3) uint8 RGB image the prediction belongs to.
        sample: the predicted sample.
        source_path: the input image's path (recorded in annotation files).
    """

    def __call__(self, targets: dict[str, str], image: np.ndarray, sample: OVDataSample,
                 source_path: str) -> None: ...


@dataclass(frozen=True)
class OutputWriter:
    """A write function with the file suffixes it produces (``_overlay.png``, ``.json``)."""

    suffixes: tuple[str, ...]
    write: WriteFn


OUTPUT_WRITERS: dict[str, OutputWriter] = {}


def register_writer(field: str, suffixes: Sequence[str]) -> Callable[[WriteFn], WriteFn]:
    """Decorator registering a write function for samples that hold ``field``.

    ``suffixes`` are appended to ``DIR/<image stem>``; writers of different fields must
    use different suffixes (checked here) so that no writer overwrites another's file.
    """

    def register(write: WriteFn) -> WriteFn:
        if field in OUTPUT_WRITERS:
            raise KeyError(f'a writer for {field!r} is already registered')
        taken = {s for writer in OUTPUT_WRITERS.values() for s in writer.suffixes}
        if taken & set(suffixes):
            raise KeyError(f'suffixes {sorted(taken & set(suffixes))} are already used')
        OUTPUT_WRITERS[field] = OutputWriter(tuple(suffixes), write)
        return write

    return register


def write_predictions(path: str, image: np.ndarray, sample: OVDataSample, out_dir: str,
                      input_paths: Sequence[str]) -> list[str]:
    """Run every registered writer whose field ``sample`` holds; return the written paths.

    Every target is checked against the inputs before anything is written.

    Raises:
        ValueError: the sample holds no field that has a writer.
        OverwriteInputError: a target path is one of ``input_paths``.
    """
    stem = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0])
    fields = [field for field in OUTPUT_WRITERS if field in sample]
    if not fields:
        raise ValueError(f'the prediction for {path} holds none of the fields with a writer '
                         f'({sorted(OUTPUT_WRITERS)})')
    plans = [(OUTPUT_WRITERS[field], {s: stem + s for s in OUTPUT_WRITERS[field].suffixes})
             for field in fields]
    for _, targets in plans:
        for target in targets.values():
            ensure_not_input(target, input_paths)
    for writer, targets in plans:
        writer.write(targets, image, sample, path)
    return [target for _, targets in plans for target in targets.values()]
