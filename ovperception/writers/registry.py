"""The registry of output writers, keyed by the prediction field they read."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.atomic import ensure_not_input, tag_png_outputs


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


def output_stems(paths: Sequence[str], root: str | None = None) -> dict[str, str]:
    """Output name stem of every input, relative to the output folder.

    The stem mirrors the input's path relative to ``root`` (the input folder; for a single
    file, its name): ``sub/a.png`` -> ``sub/a``. Inputs that would share a stem (``a.jpg``
    and ``a.png``) keep their extension in it (``a.jpg``, ``a.png``), so that no two inputs
    write the same files. Names are compared case-insensitively (macOS, Windows).
    """
    if root is not None and os.path.isdir(root):
        relative = {path: os.path.relpath(path, root) for path in paths}
    else:
        relative = {path: os.path.basename(path) for path in paths}
    plain = {path: os.path.splitext(rel)[0] for path, rel in relative.items()}
    counts: dict[str, int] = {}
    for stem in plain.values():
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    return {path: relative[path] if counts[stem.lower()] > 1 else stem
            for path, stem in plain.items()}


def write_predictions(path: str, image: np.ndarray, sample: OVDataSample, out_dir: str,
                      input_paths: Sequence[str], stem: str | None = None) -> list[str]:
    """Run every registered writer whose field ``sample`` holds; return the written paths.

    Files are named ``out_dir/<stem><suffix>``; ``stem`` (relative to ``out_dir``, see
    :func:`output_stems`) defaults to the input's name without extension. Every target is
    checked against the inputs before anything is written; PNG outputs carry a text tag so a
    later run reading ``out_dir`` as its input skips them (``utils.atomic.is_tagged_output``).

    Raises:
        ValueError: the sample holds no field that has a writer.
        OverwriteInputError: a target path is one of ``input_paths``.
    """
    if stem is None:
        stem = os.path.splitext(os.path.basename(path))[0]
    stem = os.path.join(out_dir, stem)
    fields = [field for field in OUTPUT_WRITERS if field in sample]
    if not fields:
        raise ValueError(f'the prediction for {path} holds none of the fields with a writer '
                         f'({sorted(OUTPUT_WRITERS)})')
    plans = [(OUTPUT_WRITERS[field], {s: stem + s for s in OUTPUT_WRITERS[field].suffixes})
             for field in fields]
    for _, targets in plans:
        for target in targets.values():
            ensure_not_input(target, input_paths)
    os.makedirs(os.path.dirname(stem) or '.', exist_ok=True)
    with tag_png_outputs('prediction'):
        for writer, targets in plans:
            writer.write(targets, image, sample, path)
    return [target for _, targets in plans for target in targets.values()]
