"""Class-name files: one class per line, synonyms separated by ``;``, ``#`` starts a comment.

The files shipped with the package live in ``ovperception/classnames/``; a file is named by a
path or by its bare name (``'voc21'``). Datasets and models (FC-CLIP's seen classes) both read
them, so the reader lives here, below both.
"""
from __future__ import annotations

import os
from typing import Iterable

from ovperception.models.clip.vocabulary import Vocabulary, VocabularyError

#: Folder of the class-name files shipped with the package.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSNAMES_DIR = os.path.join(_PACKAGE_DIR, 'classnames')


#: A line of a class-name file allowing a name in several classes (see ``Vocabulary.parse``).
SHARED_NAMES_PRAGMA = '# ovp: shared-names'


class ClassnamesError(ValueError):
    """A class-name file or list is empty or inconsistent."""


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


def allows_shared_names(entries: Iterable[str]) -> bool:
    """Whether raw class-name lines carry :data:`SHARED_NAMES_PRAGMA`."""
    return any(raw.strip() == SHARED_NAMES_PRAGMA for raw in entries)


def parse_classnames(entries: Iterable[str], source: str = 'classnames') -> list[str]:
    """Normalise and validate vocabulary entries (the rules of :class:`Vocabulary`).

    Args:
        entries: raw lines or list items; ``'#'`` starts a comment, blank
            entries are skipped.
        source: where the entries come from, for error messages.

    Returns:
        One normalised entry per class (``'a; b'`` spacing).

    Raises:
        ClassnamesError: no classes, the same class twice, or one name used
            by two classes (allowed in a file with the line ``# ovp: shared-names``).
    """
    entries = list(entries)
    classnames = [entry for entry in (raw.split('#', 1)[0].strip() for raw in entries)
                  if entry.strip(' ;')]
    if not classnames:
        raise ClassnamesError(f'{source}: no class names found (one class per line, '
                              f'synonyms separated by ";", "#" starts a comment)')
    try:
        return list(Vocabulary.parse(classnames,
                                     shared_names=allows_shared_names(entries)).entries)
    except VocabularyError as error:
        raise ClassnamesError(f'{source}: {error}') from error


def load_classnames(name_or_path: str | os.PathLike) -> list[str]:
    """Read and validate a class-name file (path or shipped bare name)."""
    path = resolve_classnames_file(name_or_path)
    with open(path, encoding='utf-8') as handle:
        return parse_classnames(handle.read().splitlines(), source=path)
