"""Class-name files: one class per line, synonyms separated by ``;``, ``#`` starts a comment.

The files shipped with the package live in ``ovperception/classnames/``; a file is named by a
path or by its bare name (``'voc21'``). Datasets and models (FC-CLIP's seen classes) both read
them, so the reader lives here, below both.
"""
from __future__ import annotations

import os
from typing import Iterable

from ovperception.models.clip.vocabulary import Vocabulary, VocabularyError
from ovperception.utils.classname_files import (CLASSNAMES_DIR,  # noqa: F401  (re-exported)
                                                available_classnames_files, classname_entries,
                                                resolve_classnames_file)

#: A line of a class-name file allowing a name in several classes (see ``Vocabulary.parse``).
SHARED_NAMES_PRAGMA = '# ovp: shared-names'


class ClassnamesError(ValueError):
    """A class-name file or list is empty or inconsistent."""


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
    classnames = classname_entries(entries)
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
