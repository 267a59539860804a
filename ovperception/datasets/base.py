"""Base dataset: a vocabulary read from a class-name file travels with every sample.

Class-name files (``ovperception/classnames/*.txt``) hold one class
per line, in label-id order; a line may list synonyms separated by ``';'``
(``"person; man; woman"``), the first being the display name. Text after
``'#'`` and blank lines are ignored.

Dataset metainfo carries both forms:

* ``classes``: tuple of display names (what metrics and visualisers print);
* ``classnames``: list of full entries with synonyms (what the model encodes).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence

from mmengine.dataset import BaseDataset

from ovperception.models.clip.classnames import (CLASSNAMES_DIR, ClassnamesError,  # noqa: F401
                                                available_classnames_files, load_classnames,
                                                parse_classnames, resolve_classnames_file)
from ovperception.models.clip.vocabulary import Vocabulary, split_synonyms
from ovperception.registry import TRANSFORMS

#: Where users are sent when a dataset is missing on disk.
DATASETS_DOC = 'docs/datasets.md'


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root, folder or split file is missing on disk."""


def require_path(path: str, what: str, dataset: str) -> str:
    """Check that a dataset path exists.

    Args:
        path: the file or folder to check.
        what: what the path is (``'image folder'``, ``'split file'`` ...).
        dataset: dataset class name, for the message.

    Returns:
        ``path`` unchanged.

    Raises:
        DatasetNotFoundError: naming the path and pointing to the docs.
    """
    if not path or not os.path.exists(path):
        raise DatasetNotFoundError(
            f'{dataset}: {what} not found: {path!r}. Check data_root / data_prefix; see '
            f'{DATASETS_DOC} for how to download and lay out this dataset.')
    return path


def read_ids(path: str) -> list[str]:
    """The ids (image names) of a split file, one per line (surrounding blanks stripped,
    blank lines skipped)."""
    with open(path, encoding='utf-8') as handle:
        return [line.strip() for line in handle if line.strip()]


def classnames_metainfo(classnames: Sequence[str]) -> dict[str, Any]:
    """Metainfo for a vocabulary: ``classes`` (display names) and ``classnames``."""
    return dict(classes=tuple(split_synonyms(entry)[0] for entry in classnames),
                classnames=list(classnames))


def build_pipeline(pipeline: Sequence[dict | Callable] | None) -> list[Callable]:
    """Build transform configs with ovperception's registry (falls back to mmengine's)."""
    return [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in (pipeline or [])]


class OVBaseDataset(BaseDataset):
    """mmengine ``BaseDataset`` whose vocabulary comes from a class-name file.

    The vocabulary is chosen, first match wins, from ``classnames`` (a list),
    ``classnames_file`` (a path or a shipped bare name such as ``'voc21'``),
    ``metainfo['classnames']``, ``metainfo['classes']``, and the class default
    ``CLASSNAMES_FILE``. Every sample returned by ``get_data_info`` holds a
    copy under ``'classnames'``, so the vocabulary travels with the data.

    Args:
        classnames_file: path or bare name of a class-name file.
        classnames: explicit vocabulary, overriding any file.
        metainfo: extra metainfo (mmengine semantics).
        pipeline: transform configs (built with ovperception's TRANSFORMS) or callables.
        **kwargs: forwarded to ``mmengine.dataset.BaseDataset``.
    """

    METAINFO: dict = dict()
    #: Bare name or path of the default class-name file of a subclass; its
    #: ``METAINFO`` (classes, classnames) is filled from it at class creation.
    CLASSNAMES_FILE: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if 'CLASSNAMES_FILE' in cls.__dict__ and 'METAINFO' not in cls.__dict__:
            cls.METAINFO = classnames_metainfo(load_classnames(cls.CLASSNAMES_FILE))

    def __init__(self,
                 *args: Any,
                 classnames_file: str | os.PathLike | None = None,
                 classnames: Sequence[str] | None = None,
                 metainfo: dict | None = None,
                 pipeline: Sequence[dict | Callable] | None = None,
                 **kwargs: Any) -> None:
        meta = dict(metainfo or {})
        vocabulary = self._choose_vocabulary(classnames, classnames_file, meta)
        meta.update(classnames_metainfo(vocabulary))
        super().__init__(*args, metainfo=meta, pipeline=build_pipeline(pipeline), **kwargs)

    @classmethod
    def _choose_vocabulary(cls, classnames: Sequence[str] | None,
                           classnames_file: str | os.PathLike | None,
                           meta: dict) -> list[str]:
        """Pick the vocabulary by the precedence documented on the class."""
        name = cls.__name__
        if classnames is not None:
            if isinstance(classnames, str):
                raise ClassnamesError(f'{name}: classnames must be a list of strings, got a '
                                      f'string; use classnames_file for a file')
            return parse_classnames(classnames, source=f'{name}(classnames=...)')
        if classnames_file is not None:
            return load_classnames(classnames_file)
        for key in ('classnames', 'classes'):
            if meta.get(key):
                return parse_classnames(meta[key], source=f'{name} metainfo[{key!r}]')
        if cls.CLASSNAMES_FILE is not None:
            return load_classnames(cls.CLASSNAMES_FILE)
        if cls.METAINFO.get('classnames'):
            return list(cls.METAINFO['classnames'])
        raise ClassnamesError(f'{name}: no vocabulary given; pass classnames_file=... '
                              f'or classnames=[...]')

    @property
    def classnames(self) -> list[str]:
        """The dataset vocabulary (entries may hold ``';'``-separated synonyms)."""
        return list(self._metainfo['classnames'])

    def get_data_info(self, idx: int) -> dict:
        """The annotation of sample ``idx`` plus ``classnames`` (the vocabulary)."""
        info = super().get_data_info(idx)
        info['classnames'] = list(self._metainfo['classnames'])
        return info
