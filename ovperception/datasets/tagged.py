"""Images with image-level tags and no masks: the training data of weakly supervised
segmentation (ExCEL) on a practitioner's own pictures.

The tags file is the one ``tools/annotate.py --tags-from`` reads (CSV ``image,tags`` or JSON,
:mod:`ovperception.utils.tags_file`). Each sample carries the dataset vocabulary
(``classnames``, background first) and ``image_tags``: the sorted indices of its tags in that
vocabulary (background excluded), which ``PackOVInputs`` puts in the metainfo.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from ovperception.datasets.base import DatasetNotFoundError, OVBaseDataset, require_path
from ovperception.registry import DATASETS
from ovperception.utils.image_files import IMAGE_SUFFIXES, find_images
from ovperception.utils.tags_file import (TagsFileError, read_tags_file, tag_key, tag_lookup,
                                          unknown_tags, vocabulary_from_tags)


@DATASETS.register_module()
class TaggedImageDataset(OVBaseDataset):
    """A folder of images (walked recursively) and a tags file naming each image's classes.

    An image's entry in the tags file is found by its path below ``img_dir``
    (``sub/a.jpg``), then its file name, then its absolute path (as ``--tags-from``). Tags
    match vocabulary entries case-insensitively and with white space folded, by any synonym
    or the whole entry (:func:`~ovperception.utils.tags_file.tag_key`); a tag naming the background
    class is dropped; an empty tag list means background only.

    Args:
        img_dir: the image folder (relative to ``data_root`` when that is given).
        tags_file: the tags file (relative to ``data_root`` when that is given).
        background_class: name of the background entry, which must come first in the
            vocabulary.
        img_suffixes: image file endings (case-insensitive).
        classnames_file, classnames: the vocabulary, background first (fixes the class
            order, e.g. that of a segmentation head's ``head_classes``); default: the
            background then every tag in order of first appearance in the tags file.
        **kwargs: ``data_root``, ``pipeline``, ``test_mode``, ``metainfo`` ...
            (``OVBaseDataset``).

    Raises:
        TagsFileError: unreadable tags file, an image without an entry, a tag that is no
            vocabulary entry, or a vocabulary whose first entry is not the background.
    """

    def __init__(self, img_dir: str, tags_file: str, *, background_class: str = 'background',
                 img_suffixes: Sequence[str] = IMAGE_SUFFIXES,
                 classnames_file: str | None = None, classnames: Sequence[str] | None = None,
                 **kwargs: Any) -> None:
        data_root = kwargs.get('data_root') or ''
        self.tags_file = os.path.join(data_root, tags_file)
        self.background_class = background_class
        self.img_suffixes = tuple(s.lower() for s in img_suffixes)
        require_path(self.tags_file, 'tags file', type(self).__name__)
        self.tags = read_tags_file(self.tags_file)
        if classnames is None and classnames_file is None:
            classnames = self.default_vocabulary(self.tags.values(), background_class)
        super().__init__(classnames=classnames, classnames_file=classnames_file,
                         data_prefix=dict(img_path=img_dir), **kwargs)

    @staticmethod
    def default_vocabulary(tags: Iterable[list[str]],
                           background_class: str = 'background') -> list[str]:
        """The background, then every tag in order of first appearance (compared as
        :func:`~ovperception.utils.tags_file.tag_key`)."""
        vocabulary = vocabulary_from_tags(tags, first=[background_class])
        if len(vocabulary) == 1:
            raise TagsFileError('the tags file names no class at all')
        return vocabulary

    def _find_tags(self, path: str, img_dir: str) -> list[str] | None:
        """The tags of the image at ``path``, by relative path, file name or absolute path."""
        relative = os.path.relpath(path, img_dir).replace(os.sep, '/')
        for key in (relative, os.path.basename(path), os.path.abspath(path)):
            if key in self.tags:
                return self.tags[key]
        return None

    def load_data_list(self) -> list[dict]:
        """One sample per image: ``img_path``, ``image_tags`` (sorted vocabulary indices) and
        ``tags`` (the names as written)."""
        name = type(self).__name__
        img_dir = require_path(self.data_prefix.get('img_path', ''), 'image folder', name)
        try:
            paths = find_images(img_dir, self.img_suffixes)
        except FileNotFoundError as error:
            raise DatasetNotFoundError(f'{name}: {error}') from error
        if tag_lookup(self.classnames[:1]).get(tag_key(self.background_class)) != 0:
            raise TagsFileError(f'{name}: the vocabulary must start with the background class '
                                f'{self.background_class!r}, got {self.classnames[0]!r}')
        lookup = tag_lookup(self.classnames)
        data_list, missing = [], []
        for path in paths:
            names = self._find_tags(path, img_dir)
            if names is None:
                missing.append(os.path.relpath(path, img_dir))
                continue
            unknown = unknown_tags(names, lookup)
            if unknown:
                raise TagsFileError(f'{name}: {path}: tags {unknown[:5]} are not entries of the '
                                    f'vocabulary')
            indices = sorted({lookup[tag_key(t)] for t in names} - {0})
            data_list.append(dict(img_path=path, image_tags=indices, tags=list(names),
                                  seg_fields=[]))
        if missing:
            raise TagsFileError(f'{name}: {len(missing)} image(s) have no entry in '
                                f'{self.tags_file} (first: {missing[0]})')
        return data_list
