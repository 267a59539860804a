"""Tags files: the classes known to be in each image (``tools/annotate.py --tags-from``,
``TaggedImageDataset``).

Formats:
    CSV   a header with the columns ``image`` and ``tags``; ``tags`` holds the image's
          names separated by ``|`` or ``,`` (quote the field: ``"a.jpg","cat, dog"``).
    JSON  ``{"a.jpg": ["cat", "dog"], ...}`` or ``[{"image": "a.jpg", "tags": [...]}, ...]``.
``image`` is a path relative to the image folder (``sub/a.jpg``), a file name or an absolute
path; each reader decides how it matches (see its docs).

Tags name vocabulary entries by any ``;`` synonym or by the whole entry, compared as
:func:`tag_key` (white space folded, lower case, as the model's ``Vocabulary`` compares
names); :func:`tag_lookup` and :func:`vocabulary_from_tags` are shared by both readers.
"""
from __future__ import annotations

import csv
import json
import re
from typing import Iterable, Sequence


class TagsFileError(ValueError):
    """The tags file is unreadable, malformed or does not cover the inputs."""


def tag_key(name: str) -> str:
    """The form in which tags and vocabulary names are compared: each ``;`` synonym with its
    white space folded to single spaces, in lower case, joined by ``'; '``.

    >>> tag_key('  Traffic   Light;cat ')
    'traffic light; cat'
    """
    synonyms = (' '.join(part.split()).lower() for part in name.split(';'))
    return '; '.join(s for s in synonyms if s)


def tag_lookup(vocabulary: Sequence[str]) -> dict[str, int]:
    """:func:`tag_key` of every synonym of every vocabulary entry, and of the whole entry, ->
    the entry's index; a name in several entries goes to the first (as the model's argmax
    breaks a tie)."""
    lookup: dict[str, int] = {}
    for index, entry in enumerate(vocabulary):
        for name in [entry, *entry.split(';')]:
            if tag_key(name):
                lookup.setdefault(tag_key(name), index)
    return lookup


def vocabulary_from_tags(tags: Iterable[Sequence[str]], first: Sequence[str] = ()) -> list[str]:
    """``first``, then every tag in order of first appearance, each once (compared as
    :func:`tag_key`; the first spelling is kept)."""
    vocabulary: dict[str, str] = {}
    for name in [*first, *(tag for names in tags for tag in names)]:
        vocabulary.setdefault(tag_key(name), name)
    return list(vocabulary.values())


def unknown_tags(tags: Iterable[str], lookup: dict[str, int]) -> list[str]:
    """The tags that name no entry of ``lookup`` (:func:`tag_lookup`), in order, each once."""
    return list(dict.fromkeys(tag for tag in tags if tag_key(tag) not in lookup))


def _split_tags(field: str) -> list[str]:
    """The non-empty names of a CSV ``tags`` field split at ``|`` or ``,``."""
    return [t.strip() for t in re.split(r'[|,]', field) if t.strip()]


def read_tags_file(path: str) -> dict[str, list[str]]:
    """``{image key: [tag, ...]}`` from a CSV or JSON tags file (module doc)."""
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise TagsFileError(f'--tags-from {path}: {error}') from error
    if path.lower().endswith('.json'):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise TagsFileError(f'--tags-from {path}: not JSON ({error})') from error
        if isinstance(data, dict):
            rows = list(data.items())
        elif isinstance(data, list) and all(isinstance(r, dict) for r in data):
            rows = [(r.get('image'), r.get('tags')) for r in data]
        else:
            raise TagsFileError(f'--tags-from {path}: expected {{"image": [tags]}} or a list '
                                'of {"image": ..., "tags": [...]}')
        tags = {}
        for image, names in rows:
            if not isinstance(image, str) or not isinstance(names, list) or not all(
                    isinstance(n, str) for n in names):
                raise TagsFileError(f'--tags-from {path}: entry {image!r} needs a list of '
                                    'tag strings')
            tags[image] = [n.strip() for n in names if n.strip()]
        return tags
    rows = list(csv.reader(text.splitlines()))
    if not rows or not {'image', 'tags'} <= {c.strip() for c in rows[0]}:
        raise TagsFileError(f'--tags-from {path}: the CSV needs a header with the columns '
                            '"image" and "tags"')
    header = [c.strip() for c in rows[0]]
    image_col, tags_col = header.index('image'), header.index('tags')
    return {row[image_col].strip(): _split_tags(row[tags_col]) for row in rows[1:]
            if len(row) > max(image_col, tags_col) and row[image_col].strip()}
