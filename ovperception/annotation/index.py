"""What a rerun needs to know without re-reading every input and manifest entry.

``OUT/.annotate/index.json`` (written by rank 0 after a merge) holds, per input name,

* ``inputs``: ``[size, mtime_ns, inode, sha256]`` of an input file when it was hashed: a
  rerun reuses the hash while the file's ``(size, mtime_ns, inode)`` are unchanged and
  hashes the bytes otherwise (a file modified within
  :data:`~ovperception.utils.file_identity.RACY_NS` of being hashed is
  never cached, since a second write in the same clock tick would keep its mtime);
* ``items``: ``[size, mtime_ns, inode, options_hash, input_hash, object count]`` of a
  manifest entry (``items/<key>.json``): while the entry file's stat is unchanged these
  values are taken from here instead of parsing the entry. Entries are written atomically (a new
  inode each time), so a rewritten entry is always read again.

Every process of a sharded run loads the index; each writes what it hashed into
``stats/inputs<rank>.json``; rank 0 merges them into the new index. A missing or broken
index only costs time (everything is read and hashed as without it).
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable

from ovperception.utils.atomic import atomic_write_bytes
from ovperception.utils.file_identity import settled
from ovperception.utils.file_identity import stat_key as _stat_key

INDEX_FILE = 'index.json'


def _load(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: str, data: dict) -> None:
    """JSON-native ``data`` written compactly and atomically (no conversion pass)."""
    atomic_write_bytes(path, json.dumps(data, separators=(',', ':')).encode('utf-8'))


class ManifestIndex:
    """Cached input hashes and manifest-entry hashes of one ``.annotate`` folder."""

    def __init__(self, root: str) -> None:
        self.root = root
        data = _load(os.path.join(root, INDEX_FILE))
        self._loaded = json.dumps(data, sort_keys=True)
        self.inputs: dict[str, list] = dict(data.get('inputs') or {})
        self.items: dict[str, list] = dict(data.get('items') or {})
        self.hashed: dict[str, list] = {}  # inputs this process hashed or found cached

    # ---- input files ----
    def input_hash(self, name: str, path: str, hash_file: Callable[[str], str]) -> str:
        """SHA-256 of the input ``path``: cached while its stat is unchanged, else
        ``hash_file(path)``."""
        stat = _stat_key(path)
        cached = self.inputs.get(name)
        if stat is not None and isinstance(cached, list) and len(cached) == 4 and \
                cached[:3] == stat:
            self.hashed[name] = cached
            return str(cached[3])
        now = time.time_ns()
        digest = hash_file(path)
        if stat is not None and settled(stat, now) and _stat_key(path) == stat:
            self.hashed[name] = stat + [digest]
        return digest

    # ---- manifest entries ----
    def item_hashes(self, name: str, path: str, read_entry: Callable[[str], dict | None]
                    ) -> tuple[str, str, int] | None:
        """``(options_hash, input_hash, object count)`` of the manifest entry ``path`` of
        ``name`` (None when there is none): from the index while the entry's stat is
        unchanged, else from ``read_entry(path)`` (which the index then records)."""
        stat = _stat_key(path)
        if stat is None:
            self.items.pop(name, None)
            return None
        cached = self.items.get(name)
        if isinstance(cached, list) and len(cached) == 6 and cached[:3] == stat:
            return str(cached[3]), str(cached[4]), int(cached[5])
        entry = read_entry(path)
        if entry is None:
            return None
        hashes = (str(entry.get('options_hash')), str(entry.get('input_hash')),
                  len(entry.get('objects') or []))
        self.items[name] = stat + list(hashes)
        return hashes

    def forget_item(self, name: str) -> None:
        self.items.pop(name, None)

    # ---- persistence ----
    def save_hashed(self, rank: int) -> None:
        """This process's input hashes, for rank 0 to merge (:meth:`save`)."""
        _write(os.path.join(self.root, 'stats', f'inputs{rank}.json'), self.hashed)

    def save(self, world_size: int, input_names: set[str], item_names: set[str]) -> None:
        """Write the index (rank 0, after the merge): the input hashes every process
        recorded (of this run's inputs) and the entry hashes of ``item_names``."""
        inputs = {}
        for rank in range(world_size):
            inputs.update(_load(os.path.join(self.root, 'stats', f'inputs{rank}.json')))
        data = dict(inputs={k: v for k, v in inputs.items() if k in input_names},
                    items={k: v for k, v in self.items.items() if k in item_names})
        if json.dumps(data, sort_keys=True) != self._loaded:
            _write(os.path.join(self.root, INDEX_FILE), data)
