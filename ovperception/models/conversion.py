"""Converters from official checkpoint layouts to ovperception state dicts.

Each method that loads its authors' released weights registers one
:class:`CheckpointConverter` in its task package (e.g. ``models/panoptic/convert.py``).
``--weights`` recognises an official file by its keys and converts it on load
(:func:`find_converter`); ``tools/convert_checkpoint.py NAME SRC DST`` does the same once,
offline, with a strict report of unmatched keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import torch

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class CheckpointConverter:
    """How to turn one official checkpoint layout into our model's state dict.

    Attributes:
        name: short name used on the command line (``fcclip``, ``anomalyclip`` ...).
        description: one line for ``--help``: which released files this converts.
        detect: True when a raw state dict is in this official layout.
        convert: official state dict -> ovperception state dict (keys of the model built from
            the method's config: ``backbone.*``, ``head.*`` ...). Must raise
            ``CheckpointMismatchError`` naming unmatched keys rather than drop them.
        read: optional reader for files ``torch.load(weights_only=True)`` cannot open
            (must itself be safe: no code execution); None uses the default reader.
        detect_on_load: whether ``--weights`` recognises this layout by its keys. False for
            the method names of a layout that several methods share (``declip`` and
            ``clipself`` are EVA-CLIP files, recognised on load as ``eva_clip``); they are
            still named on ``tools/convert_checkpoint.py``'s command line.
    """

    name: str
    description: str
    detect: Callable[[Mapping[str, object]], bool]
    convert: Callable[[Mapping[str, object]], StateDict]
    read: Callable[[str], Mapping[str, object]] | None = None
    detect_on_load: bool = True


CONVERTERS: dict[str, CheckpointConverter] = {}


def register_converter(converter: CheckpointConverter) -> CheckpointConverter:
    """Add ``converter`` under its name (a second converter of one name is an error)."""
    if converter.name in CONVERTERS and CONVERTERS[converter.name] is not converter:
        raise KeyError(f'a checkpoint converter named {converter.name!r} is already registered')
    CONVERTERS[converter.name] = converter
    return converter


def get_converter(name: str) -> CheckpointConverter:
    """The converter called ``name``; KeyError listing the known names otherwise."""
    import ovperception.models  # noqa: F401  (task packages register their converters)
    try:
        return CONVERTERS[name]
    except KeyError:
        raise KeyError(f'unknown checkpoint format {name!r}; known: {sorted(CONVERTERS)}') \
            from None


def find_converter(state: Mapping[str, object]) -> CheckpointConverter | None:
    """The converter whose official layout ``state`` is in, or None."""
    import ovperception.models  # noqa: F401
    matches = [conv for conv in CONVERTERS.values() if conv.detect_on_load and conv.detect(state)]
    return matches[0] if len(matches) == 1 else None


def read_with_converters(path: str) -> Mapping[str, object]:
    """Read a file ``torch.load`` cannot open (e.g. a detectron2 ``.pkl``) with the first
    registered converter reader whose layout it holds; the readers themselves are safe."""
    import ovperception.models  # noqa: F401
    for converter in CONVERTERS.values():
        if converter.read is not None:
            raw = converter.read(path)
            if converter.detect(raw):
                return raw
    raise ValueError(f'{path}: no registered official layout reads this file '
                     f'(known: {sorted(CONVERTERS)})')


def raise_unmatched(unmatched: Iterable[str], method: str) -> None:
    """Raise ``CheckpointMismatchError`` naming (up to ten of) the official keys a converter
    found no counterpart for; nothing when there are none."""
    keys = sorted(str(k) for k in unmatched)
    if keys:
        from ovperception.models.clip.weights import CheckpointMismatchError
        raise CheckpointMismatchError(f'{method} checkpoint has {len(keys)} keys with no '
                                      f'counterpart: {keys[:10]}')
