"""Where class-name files live and how their lines read, without torch or the models.

A class-name file has one class per line, synonyms separated by ``;``; ``#`` starts a
comment and blank lines are skipped. The files shipped with the package live in
``ovperception/classnames/``; a file is named by a path or by its bare name (``'voc21'``).
:mod:`ovperception.models.clip.classnames` validates the entries (the rules of
``Vocabulary``); commands read them here before the models are imported.
"""
from __future__ import annotations

import os
from typing import Iterable

#: Folder of the class-name files shipped with the package.
CLASSNAMES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'classnames')


def available_classnames_files() -> list[str]:
    """Bare names of the class-name files shipped with the package.

    Files of one official repository live in a sub-folder and are named with it
    (``'sclip/voc21'``): each method's published-number configs use its own repository's files.
    """
    names = []
    for root, _, files in os.walk(CLASSNAMES_DIR):
        folder = os.path.relpath(root, CLASSNAMES_DIR)
        names.extend(name[:-4] if folder == '.' else f'{folder}/{name[:-4]}'
                     for name in files if name.endswith('.txt'))
    return sorted(names)


def resolve_classnames_file(name_or_path: str | os.PathLike) -> str:
    """Turn a path or a shipped name (``'voc21'``, ``'voc21.txt'``, ``'sclip/voc21'``) into a path.

    Raises:
        FileNotFoundError: neither an existing file nor a shipped name.
    """
    candidate = os.fspath(name_or_path)
    if os.path.isfile(candidate):
        return candidate
    bare = candidate if candidate.endswith('.txt') else f'{candidate}.txt'
    shipped = os.path.join(CLASSNAMES_DIR, bare)
    if not os.path.isabs(candidate) and '..' not in bare.split('/') and os.path.isfile(shipped):
        return shipped
    raise FileNotFoundError(
        f'class-name file {candidate!r} not found: give an existing path or one of the '
        f'shipped names {available_classnames_files()}')


def classname_entries(lines: Iterable[str]) -> list[str]:
    """The class entries of raw lines or list items: comments (``#``) cut, blank entries
    (also ``';'`` only) skipped; not yet validated."""
    return [entry for entry in (raw.split('#', 1)[0].strip() for raw in lines)
            if entry.strip(' ;')]


def read_classname_entries(name_or_path: str | os.PathLike) -> list[str]:
    """:func:`classname_entries` of a class-name file (path or shipped name)."""
    with open(resolve_classnames_file(name_or_path), encoding='utf-8') as handle:
        return classname_entries(handle.read().splitlines())
