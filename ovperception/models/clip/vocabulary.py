"""Vocabulary parsing (synonyms, background words) and the text-embedding bundle.

A vocabulary is a list of class entries; each entry may hold synonyms separated
by ``';'`` (``"person; man; woman"``). A class is scored by the maximum over its
synonyms. Optional *background words* are extra names that are scored like any
class but mean "none of the classes" (a virtual background class).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ovperception.utils.closed_vocabulary import split_vocabulary_string

SYNONYM_SEPARATOR = ';'
VIRTUAL_BACKGROUND_NAME = 'background'


class VocabularyError(ValueError):
    """Raised for an empty, blank or ambiguous vocabulary."""


def _clean(name: str) -> str:
    return re.sub(r'\s+', ' ', name).strip()


def split_synonyms(entry: str) -> list[str]:
    """Split one vocabulary entry into its synonyms (whitespace-normalised, order kept).

    >>> split_synonyms(' person;  man ; woman')
    ['person', 'man', 'woman']
    """
    if not isinstance(entry, str):
        raise VocabularyError(f'vocabulary entries must be strings, got {type(entry).__name__}')
    names = [_clean(n) for n in entry.split(SYNONYM_SEPARATOR)]
    names = [n for n in names if n]
    if not names:
        raise VocabularyError(f'vocabulary entry {entry!r} is empty')
    return list(dict.fromkeys(names))


def parse_vocabulary_string(text: str, separator: str = ',') -> list[str]:
    """Parse a command-line vocabulary such as ``"cat, dog; puppy, grass"``.

    Classes are separated by ``separator`` and synonyms by ``';'``.
    """
    entries = split_vocabulary_string(text, separator)
    if not entries:
        raise VocabularyError(f'the vocabulary {text!r} holds no class names')
    return entries


def background_words_without_classes(classnames: Sequence[str],
                                     background_words: Sequence[str]
                                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``background_words`` into (kept, dropped): a word that is also one of the
    class names (any synonym, case-insensitive) is dropped, so that a class the user
    names wins over a configured background word.

    >>> background_words_without_classes(['cat', 'sky; heaven'], ['Sky', 'wall'])
    (('wall',), ('Sky',))
    """
    taken = {_clean(name).lower() for entry in classnames if isinstance(entry, str)
             for name in entry.split(SYNONYM_SEPARATOR)}
    kept = tuple(w for w in background_words if _clean(w).lower() not in taken)
    dropped = tuple(w for w in background_words if _clean(w).lower() in taken)
    return kept, dropped


@dataclass(frozen=True)
class Vocabulary:
    """A parsed vocabulary.

    Attributes:
        entries: the K class entries as given (synonyms joined by ``'; '``).
        class_names: K display names (first synonym of each entry).
        names: the N flat names (all synonyms, then background words) to encode.
        name_to_class: N class indices; background words map to index K.
        has_virtual_background: whether background words were given (class K exists).
    """

    entries: tuple[str, ...]
    class_names: tuple[str, ...]
    names: tuple[str, ...]
    name_to_class: tuple[int, ...]
    has_virtual_background: bool

    @property
    def num_classes(self) -> int:
        """K real classes (the virtual background, if any, is not counted)."""
        return len(self.class_names)

    @property
    def num_scored_classes(self) -> int:
        """K, or K + 1 with a virtual background class."""
        return self.num_classes + int(self.has_virtual_background)

    @classmethod
    def parse(cls, classnames: Sequence[str], background_words: Sequence[str] = (), *,
              shared_names: bool = False) -> Vocabulary:
        """Validate and flatten ``classnames`` (+ optional ``background_words``).

        Args:
            shared_names: allow a name in several classes (an official class-name file that
                does so, e.g. SCLIP's COCO-Object "bed"); it is encoded once per class and
                a tie goes to the first class, as the official argmax does.

        Raises:
            VocabularyError: empty vocabulary, blank entry, or a name used by two
                classes (unless ``shared_names``) or by a class and the background words.
        """
        if isinstance(classnames, str):
            raise VocabularyError('classnames must be a list of strings, not one string; '
                                  'use parse_vocabulary_string() for "a, b, c"')
        if len(classnames) == 0:
            raise VocabularyError('the vocabulary is empty: give at least one class name')
        synonyms = [split_synonyms(entry) for entry in classnames]
        owner: dict[str, int] = {}
        names: list[str] = []
        name_to_class: list[int] = []
        for index, group in enumerate(synonyms):
            for name in group:
                key = name.lower()
                if key in owner and (owner[key] == index or not shared_names):
                    other = owner[key]
                    what = 'twice in one class' if other == index else (
                        f'by classes {other} ({classnames[other]!r}) and {index} '
                        f'({classnames[index]!r})')
                    raise VocabularyError(f'duplicate vocabulary name {name!r}: used {what}; '
                                          'each name may belong to one class only')
                owner.setdefault(key, index)
                names.append(name)
                name_to_class.append(index)
        background = [_clean(w) for w in background_words if _clean(w)]
        for word in dict.fromkeys(background):
            if word.lower() in owner:
                raise VocabularyError(f'background word {word!r} is also a class name')
            names.append(word)
            name_to_class.append(len(synonyms))
        return cls(entries=tuple('; '.join(g) for g in synonyms),
                   class_names=tuple(g[0] for g in synonyms), names=tuple(names),
                   name_to_class=tuple(name_to_class),
                   has_virtual_background=bool(background))


@dataclass
class TextEmbeddings:
    """Text embeddings of one vocabulary, ready for a head.

    Attributes:
        vocabulary: the parsed vocabulary.
        embeddings: (N, C) L2-normalised embedding per flat name.
        name_to_class: (N,) long, class index of every name (K = virtual background).
        logit_scale: the backbone's CLIP logit scale (e.g. 100).
    """

    vocabulary: Vocabulary
    embeddings: Tensor
    name_to_class: Tensor
    logit_scale: float = 100.0

    @property
    def num_classes(self) -> int:
        return self.vocabulary.num_classes

    @property
    def num_scored_classes(self) -> int:
        return self.vocabulary.num_scored_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.vocabulary.class_names)

    def reduce_synonyms(self, name_scores: Tensor, dim: int = 1) -> Tensor:
        """Max over synonyms: (..., N, ...) name scores -> (..., K', ...) class scores.

        K' = ``num_scored_classes`` (the virtual background is the last class).
        """
        moved = name_scores.movedim(dim, -1)
        index = self.name_to_class.to(moved.device).expand_as(moved)
        out = moved.new_full((*moved.shape[:-1], self.num_scored_classes), float('-inf'))
        out = out.scatter_reduce(-1, index, moved, reduce='amax', include_self=True)
        return out.movedim(-1, dim)

    def to(self, device: torch.device | str) -> TextEmbeddings:
        return TextEmbeddings(self.vocabulary, self.embeddings.to(device),
                              self.name_to_class.to(device), self.logit_scale)
