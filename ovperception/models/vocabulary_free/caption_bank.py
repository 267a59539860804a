"""A text database for vocabulary-free recognition: entries, their CLIP text embeddings in a
memory-mapped index built once per (entries, text encoder), and nearest-neighbour retrieval
with CaSED's de-duplication.

Sources (``CaptionBank.from_source``):
    ``'default'``        the shipped bank: every class name (and synonym) of the class-name
                         files in ``ovperception/classnames`` (ADE-150, COCO-Stuff, Pascal
                         Context 459, COCO panoptic, Cityscapes, VOC, OV-COCO; about 1,000
                         distinct names; LVIS and ADE-847 name files are not shipped yet),
                         de-duplicated, "background"-like words left out.
    a ``.txt`` file      one caption per line (empty lines and ``#`` comments skipped).
    a ``.csv`` file      the column ``caption`` (or the first column) of each row.
    a folder             every ``.txt``/``.csv`` file in it, recursively, in sorted order.

Index: ``<index_dir>/<key>/`` holds ``captions.txt``, ``embeddings.npy`` (float32 (N, C),
L2-normalised, opened with ``mmap_mode='r'`` so a large bank is not read into memory) and
``meta.json``; ``key`` hashes the entries and the text encoder's weights id, so a changed
file or another CLIP builds a new index and an unchanged one is reused. Retrieval is exact
inner-product search over the memory map in chunks (the official code uses a faiss index of
the same normalised embeddings; exact search returns the same neighbours as a flat index).
"""
from __future__ import annotations

import copy
import csv
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ovperception.utils.atomic import atomic_write_bytes, atomic_write_json, atomic_write_stream

DEFAULT_SOURCE = 'default'
#: Retrieved entries more similar than this to a better-ranked one are dropped (CaSED: 0.94).
DUPLICATE_SIMILARITY = 0.94
SEARCH_CHUNK = 65536
ENCODE_CHUNK = 1024
INDEX_VERSION = 1
EncodeText = Callable[[list[str]], Tensor]


class CaptionBankError(ValueError):
    """A caption source is missing, empty or unreadable."""


#: Words of the class-name files that are not object or stuff names.
_NOT_NAMES = frozenset(('background', 'others', 'other', 'unlabeled', 'unlabelled'))


def _classname_entries() -> list[str]:
    """Every name and synonym of the shipped (top-level) class-name files, in file order."""
    from ovperception.models.clip.classnames import CLASSNAMES_DIR
    entries: list[str] = []
    for name in sorted(os.listdir(CLASSNAMES_DIR)):
        if name.endswith('.txt'):
            for line in _file_entries(os.path.join(CLASSNAMES_DIR, name)):
                entries.extend(s.strip() for s in line.split(';')
                               if s.strip() and s.strip().lower() not in _NOT_NAMES)
    return entries


def _file_entries(path: str) -> list[str]:
    try:
        if path.lower().endswith('.csv'):
            with open(path, newline='', encoding='utf-8') as handle:
                rows = list(csv.reader(handle))
            if not rows:
                return []
            column = rows[0].index('caption') if 'caption' in rows[0] else 0
            start = 1 if 'caption' in rows[0] else 0
            return [row[column].strip() for row in rows[start:] if len(row) > column]
        with open(path, encoding='utf-8') as handle:
            return [line.strip() for line in handle
                    if line.strip() and not line.lstrip().startswith('#')]
    except (OSError, UnicodeDecodeError) as error:
        raise CaptionBankError(f'cannot read the caption file {path}: {error}') from error


def read_entries(source: str) -> list[str]:
    """The entries of a caption source (see the module doc), de-duplicated in order."""
    if source == DEFAULT_SOURCE:
        entries = _classname_entries()
    elif os.path.isdir(source):
        files = sorted(os.path.join(root, name) for root, _, names in os.walk(source)
                       for name in names if name.lower().endswith(('.txt', '.csv')))
        if not files:
            raise CaptionBankError(f'the caption folder {source} holds no .txt or .csv file')
        entries = [entry for path in files for entry in _file_entries(path)]
    elif os.path.isfile(source):
        entries = _file_entries(source)
    else:
        raise CaptionBankError(f'caption database {source!r} is neither "default", a file '
                               'nor a folder')
    entries = list(dict.fromkeys(e for e in entries if e))
    if not entries:
        raise CaptionBankError(f'the caption database {source!r} holds no entry')
    return entries


def check_source(source: str) -> None:
    """CaptionBankError unless ``source`` is ``'default'``, a file or a folder (cheap: the
    entries are read when the index is built)."""
    if source != DEFAULT_SOURCE and not os.path.exists(source):
        raise CaptionBankError(f'caption database {source!r} is neither "default", a file '
                               'nor a folder')


def configured_selector(cfg: Any, cfg_options: Mapping | None = None) -> dict | None:
    """The ``model.vocabulary_selector`` of the parsed config ``cfg`` with ``cfg_options``
    applied (``cfg`` itself is left unchanged), its caption database checked
    (:func:`check_source`); None when the config does not choose its own vocabulary."""
    merged = copy.deepcopy(cfg)
    merged.merge_from_dict(dict(cfg_options or {}))
    selector = merged.model.get('vocabulary_selector')
    if not selector:
        return None
    check_source(selector.get('database', DEFAULT_SOURCE))
    return selector


def default_index_dir() -> str:
    """``$OVP_CAPTION_INDEX_DIR`` or ``~/.cache/ovperception/caption_index``."""
    return os.environ.get('OVP_CAPTION_INDEX_DIR') or os.path.join(
        os.path.expanduser('~'), '.cache', 'ovperception', 'caption_index')


def index_key(entries: Sequence[str], weights_id: str) -> str:
    digest = hashlib.sha256(f'v{INDEX_VERSION}|{weights_id}|'.encode())
    for entry in entries:
        digest.update(entry.encode('utf-8') + b'\n')
    return digest.hexdigest()[:24]


def keep_first_of_near_duplicates(embeddings: np.ndarray,
                                  threshold: float = DUPLICATE_SIMILARITY) -> np.ndarray:
    """Boolean mask over the (K, C) ranked, normalised ``embeddings`` keeping, of each group
    connected by similarity > ``threshold``, only its best-ranked member (CaSED's
    de-duplication of retrieved captions)."""
    count = len(embeddings)
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    similar = embeddings @ embeddings.T > threshold
    for i, j in zip(*np.nonzero(np.triu(similar, 1))):
        a, b = root(int(i)), root(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([root(i) == i for i in range(count)], dtype=bool)


@dataclass
class Retrieved:
    """One query's retrieved entries, best first, after de-duplication."""

    captions: list[str]
    similarities: list[float]
    embeddings: Tensor  # (K, C) normalised embeddings of ``captions``


class CaptionBank:
    """Entries and their (N, C) normalised text embeddings (a memory map once indexed).

    Args:
        entries: the bank's texts.
        embeddings: (N, C) float32 L2-normalised embeddings of ``entries``.
    """

    def __init__(self, entries: Sequence[str], embeddings: np.ndarray) -> None:
        if len(entries) != len(embeddings):
            raise CaptionBankError(f'{len(entries)} entries but {len(embeddings)} embeddings')
        self.entries = list(entries)
        self.embeddings = embeddings

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def encode(cls, entries: Sequence[str], encode_text: EncodeText,
               progress: bool = False) -> CaptionBank:
        """Embed ``entries`` in memory (bare text, as CaSED encodes its database)."""
        from tqdm import tqdm
        chunks = range(0, len(entries), ENCODE_CHUNK)
        parts = [encode_text(list(entries[i:i + ENCODE_CHUNK])).float().cpu().numpy()
                 for i in tqdm(chunks, desc='indexing captions', disable=not progress)]
        embeddings = np.concatenate(parts).astype(np.float32)
        embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        return cls(entries, embeddings)

    @classmethod
    def from_source(cls, source: str, encode_text: EncodeText, weights_id: str,
                    index_dir: str | None = None) -> CaptionBank:
        """Load the index of ``source`` for this text encoder, building it on first use."""
        entries = read_entries(source)
        folder = os.path.join(index_dir or default_index_dir(), index_key(entries, weights_id))
        matrix = os.path.join(folder, 'embeddings.npy')
        if os.path.isfile(matrix):
            embeddings = np.load(matrix, mmap_mode='r')
            if embeddings.shape[0] == len(entries):
                return cls(entries, embeddings)
        bank = cls.encode(entries, encode_text, progress=len(entries) > ENCODE_CHUNK)
        bank.save(folder, source, weights_id)
        return cls(entries, np.load(matrix, mmap_mode='r'))

    def save(self, folder: str, source: str, weights_id: str) -> None:
        """Write ``captions.txt``, ``embeddings.npy`` and ``meta.json`` atomically."""
        atomic_write_bytes(os.path.join(folder, 'captions.txt'), ''.join(
            entry.replace('\n', ' ') + '\n' for entry in self.entries).encode('utf-8'))
        matrix = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        atomic_write_stream(os.path.join(folder, 'embeddings.npy'),
                            lambda handle: np.save(handle, matrix))
        atomic_write_json(os.path.join(folder, 'meta.json'), dict(
            version=INDEX_VERSION, weights_id=weights_id, entries=len(self.entries),
            dim=int(self.embeddings.shape[1]),
            source=source if source == DEFAULT_SOURCE else os.path.abspath(source)))

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """(Q, C) normalised queries -> ((Q, k) similarities, (Q, k) indices), best first."""
        k = min(k, len(self))
        queries = queries.float().cpu()
        best_scores = torch.full((len(queries), 0), -float('inf'))
        best_index = torch.zeros((len(queries), 0), dtype=torch.long)
        for start in range(0, len(self), SEARCH_CHUNK):
            chunk = torch.from_numpy(np.array(self.embeddings[start:start + SEARCH_CHUNK]))
            scores = queries @ chunk.T
            scores, index = torch.cat([best_scores, scores], 1), torch.cat(
                [best_index, torch.arange(start, start + len(chunk)).expand(len(queries), -1)], 1)
            best_scores, order = scores.topk(k, dim=1)
            best_index = index.gather(1, order)
        return best_scores, best_index

    def retrieve(self, queries: Tensor, k: int) -> list[Retrieved]:
        """The ``k`` nearest entries of each (Q, C) query, near-duplicates removed."""
        scores, indices = self.search(queries, k)
        results = []
        for row_scores, row_index in zip(scores.tolist(), indices.tolist()):
            vectors = np.asarray(self.embeddings[row_index], dtype=np.float32)
            keep = keep_first_of_near_duplicates(vectors)
            results.append(Retrieved(
                [self.entries[i] for i, kept in zip(row_index, keep) if kept],
                [s for s, kept in zip(row_scores, keep) if kept],
                torch.from_numpy(vectors[keep])))
        return results

