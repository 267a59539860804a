"""Per-image vocabularies for annotation: ``--tags-from FILE`` (the classes known to be in
each image) and vocabulary-free runs (names chosen per image by the model).

Each image is segmented with its own names only; its labels are then mapped into the
dataset's vocabulary, the union of every image's names (or ``--vocab``, when given, whose
entries the tags must name), so every format still has one category list.

The tags file (CSV / JSON, formats in :mod:`ovperception.utils.tags_file`) is read by
:func:`read_tags_file`, shared with ``TaggedImageDataset``.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

from ovperception.annotation.sources import InputItem
from ovperception.utils.tags_file import (TagsFileError, read_tags_file, tag_key, tag_lookup,
                                          unknown_tags, vocabulary_from_tags)

__all__ = ['CHOSEN_NAMES_FILE', 'TagsFileError', 'dataset_vocabulary', 'image_labels',
           'read_tags_file', 'tags_per_input']

CHOSEN_NAMES_FILE = 'chosen_names.json'


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
    every tag must be one of its entries' names. Tags and names are compared as
    :func:`~ovperception.utils.tags_file.tag_key` (any synonym, case-insensitive, white
    space folded), as ``TaggedImageDataset`` does.
    """
    all_tags = [tag for names in tags for tag in names]
    if vocabulary is None:
        vocabulary = vocabulary_from_tags([all_tags])
        if not vocabulary:
            raise TagsFileError('the tags name no class at all')
    lookup = tag_lookup(vocabulary)
    unknown = sorted(unknown_tags(all_tags, lookup))
    if unknown:
        raise TagsFileError(f'tags {unknown[:5]} are not names of --vocab')
    return list(vocabulary), {tag: lookup[tag_key(tag)] for tag in all_tags}


def image_labels(tags: dict[str, list[str]], tag_index: dict[str, int]) -> dict[str, list[int]]:
    """Per input name, the dataset-vocabulary indices of its tags (duplicates removed)."""
    return {name: list(dict.fromkeys(tag_index[t] for t in names))
            for name, names in tags.items()}
