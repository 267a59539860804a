"""Per-image vocabularies for annotation: ``--tags-from FILE`` (the classes known to be in
each image) and vocabulary-free runs (names chosen per image by the model).

Each image is segmented with its own names only; its labels are then mapped into the
dataset's vocabulary, the union of every image's names (or ``--vocab``, when given, whose
entries the tags must name), so every format still has one category list.

Tags file formats:
    CSV   a header with the columns ``image`` and ``tags``; ``tags`` holds the image's
          names separated by ``|`` or ``,`` (quote the field: ``"a.jpg","cat, dog"``).
    JSON  ``{"a.jpg": ["cat", "dog"], ...}`` or ``[{"image": "a.jpg", "tags": [...]}, ...]``.
``image`` is matched against each input's name below the source folder (``sub/a.jpg``),
then its file name, then its absolute path.
"""
from __future__ import annotations

import csv
import json
import os
import re
from typing import Iterable, Sequence

from ovperception.annotation.sources import InputItem

CHOSEN_NAMES_FILE = 'chosen_names.json'


class TagsFileError(ValueError):
    """The tags file is unreadable, malformed or does not cover the inputs."""


def _split_tags(field: str) -> list[str]:
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


def tags_per_input(tags: dict[str, list[str]], inputs: Sequence[InputItem],
                   source: str) -> dict[str, list[str]]:
    """Each input's tags, found by its name, file name or absolute path.

    Raises:
        TagsFileError: an input has no entry, or a video is among the inputs.
    """
    videos = [i.path for i in inputs if i.kind != 'image']
    if videos:
        raise TagsFileError(f'per-image vocabularies take images; {videos[0]} is a video')
    by_path = {os.path.abspath(os.path.join(source if os.path.isdir(source) else '', k)): v
               for k, v in tags.items()}
    found, missing = {}, []
    for item in inputs:
        for key in (item.name, os.path.basename(item.path)):
            if key in tags:
                found[item.name] = tags[key]
                break
        else:
            absolute = os.path.abspath(item.path)
            if absolute in by_path:
                found[item.name] = by_path[absolute]
            else:
                missing.append(item.name)
    if missing:
        raise TagsFileError(f'{len(missing)} input image(s) have no entry in the tags file '
                            f'(first: {missing[0]})')
    return found


def dataset_vocabulary(tags: Iterable[list[str]],
                       vocabulary: Sequence[str] | None) -> tuple[list[str], dict[str, int]]:
    """The dataset's vocabulary and each tag's index in it.

    Without ``vocabulary`` it is the union of the tags in order of appearance; with it,
    every tag must be one of its entries' names (any synonym, case-insensitive).
    """
    if vocabulary is None:
        union = list(dict.fromkeys(t for names in tags for t in names))
        if not union:
            raise TagsFileError('the tags name no class at all')
        return union, {t: i for i, t in enumerate(union)}
    index = {s.strip().lower(): i for i, entry in enumerate(vocabulary)
             for s in entry.split(';') if s.strip()}
    unknown = sorted({t for names in tags for t in names if t.lower() not in index})
    if unknown:
        raise TagsFileError(f'tags {unknown[:5]} are not names of --vocab')
    return list(vocabulary), {t: index[t.lower()] for names in tags for t in names}


def image_labels(tags: dict[str, list[str]], tag_index: dict[str, int]) -> dict[str, list[int]]:
    """Per input name, the dataset-vocabulary indices of its tags (duplicates removed)."""
    return {name: list(dict.fromkeys(tag_index[t] for t in names))
            for name, names in tags.items()}
