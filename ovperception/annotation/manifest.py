"""The manifest of a run: one small JSON file per finished input under ``OUT/.annotate/``.

* ``items/<key>.json``: one annotated image (or video frame): its record, its objects, the
  content hash of the input and the hash of the options that produced it. A rerun with the
  same input bytes and options skips it; anything else is redone.
* ``videos/<key>.json``: a finished video (every selected frame is in ``items/``).
* ``failed/<key>.json``: an input that could not be read, with the reason.
* ``flat_names.json``: the flat stem (YOLO, VOC file names) given to every input so far,
  so that a rerun names every input as before (see ``records.unique_names``).

Every file is written atomically (``utils/atomic.py``), so a run killed at any moment
leaves whole files: at most the input in flight is lost. Files of different inputs never
collide, so processes of a sharded run write side by side without locks.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any, Collection

from ovperception.annotation.index import ManifestIndex
from ovperception.annotation.records import ImageRecord, ObjectAnnotation
from ovperception.utils.atomic import atomic_write_json

WORK_DIR = '.annotate'
FLAT_NAMES_FILE = 'flat_names.json'


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def options_hash(options: dict[str, Any]) -> str:
    """Hex SHA-256 of the JSON of the options that decide the predictions."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


def _key(name: str) -> str:
    return hashlib.sha1(name.encode('utf-8')).hexdigest()


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def load_flat_names(out_dir: str) -> tuple[dict[str, str], set[str]]:
    """``({input name: flat stem}, {names of videos})`` recorded by earlier runs into
    ``out_dir`` (empty when none)."""
    entry = _read(os.path.join(out_dir, WORK_DIR, FLAT_NAMES_FILE)) or {}
    names = entry.get('names') if isinstance(entry.get('names'), dict) else {}
    return ({str(k): str(v) for k, v in names.items()},
            {str(v) for v in entry.get('videos') or [] if v in names})


def save_flat_names(out_dir: str, names: dict[str, str], videos: set[str]) -> None:
    """Record the flat stem of every input (atomically)."""
    atomic_write_json(os.path.join(out_dir, WORK_DIR, FLAT_NAMES_FILE), dict(
        names=names, videos=sorted(v for v in videos if v in names)), indent=None)


class Manifest:
    """Finished and failed inputs of the run writing into ``out_dir``."""

    def __init__(self, out_dir: str, options_digest: str) -> None:
        self.root = os.path.join(out_dir, WORK_DIR)
        self.options_digest = options_digest
        self.index = ManifestIndex(self.root)
        self._failed_keys: set[str] | None = None

    def _path(self, folder: str, name: str) -> str:
        return os.path.join(self.root, folder, _key(name) + '.json')

    def _matches(self, entry: dict | None, input_hash: str) -> bool:
        return entry is not None and entry.get('input_hash') == input_hash and \
            entry.get('options_hash') == self.options_digest

    def input_hash(self, name: str, path: str) -> str:
        """SHA-256 of the input file ``path`` (cached in the index while its size, mtime and
        inode are unchanged)."""
        return self.index.input_hash(name, path, file_sha256)

    # ---- images and frames ----
    def stored_hash_and_count(self, name: str) -> tuple[str, int] | None:
        """``(input hash, object count)`` of the entry stored for ``name`` with the current
        options (None when there is none), without parsing the entry while the index
        knows it."""
        hashes = self.index.item_hashes(name, self._path('items', name), _read)
        if hashes is None or hashes[0] != self.options_digest:
            return None
        return hashes[1], hashes[2]

    def has_item(self, name: str, input_hash: str) -> bool:
        stored = self.stored_hash_and_count(name)
        return stored is not None and stored[0] == input_hash

    def save_item(self, name: str, input_hash: str, record: ImageRecord,
                  objects: list[ObjectAnnotation]) -> None:
        atomic_write_json(self._path('items', name), dict(
            name=name, input_hash=input_hash, options_hash=self.options_digest,
            record=record.to_json(), objects=[o.to_json() for o in objects]), indent=None)
        self.index.forget_item(name)
        self.clear_failure(name)

    def stored_item(self, name: str) -> tuple[ImageRecord, list[ObjectAnnotation]] | None:
        """``(record, objects)`` stored for ``name`` with the current options (merging: this
        run has just checked or redone every input); None when there is none."""
        entry = _read(self._path('items', name))
        if entry is None or entry.get('options_hash') != self.options_digest:
            return None
        return (ImageRecord.from_json(entry['record']),
                [ObjectAnnotation.from_json(o) for o in entry['objects']])

    # ---- videos ----
    def load_video(self, name: str, input_hash: str) -> list[str] | None:
        """Frame names of a finished video, or None."""
        entry = _read(self._path('videos', name))
        return entry['frames'] if self._matches(entry, input_hash) else None

    def save_video(self, name: str, input_hash: str, frames: list[str], fps: float) -> None:
        atomic_write_json(self._path('videos', name), dict(
            name=name, input_hash=input_hash, options_hash=self.options_digest,
            frames=frames, fps=fps))
        self.clear_failure(name)

    def stored_video_frames(self, name: str) -> list[str]:
        """Frame names of a finished video made with the current options ([] if none)."""
        entry = _read(self._path('videos', name))
        if entry is None or entry.get('options_hash') != self.options_digest:
            return []
        return list(entry['frames'])

    def video_mtime(self, name: str) -> float | None:
        """Modification time of the finished video's entry (None when there is none)."""
        try:
            return os.path.getmtime(self._path('videos', name))
        except OSError:
            return None

    def video_fps(self, name: str) -> float:
        entry = _read(self._path('videos', name)) or {}
        return float(entry.get('fps') or 0.0)

    # ---- failures ----
    def save_failure(self, name: str, path: str, error: str) -> None:
        self._failed_keys = None
        atomic_write_json(self._path('failed', name), dict(name=name, path=path, error=error))

    def load_failure(self, name: str) -> dict | None:
        if self._failed_keys is None:  # one listing instead of one open per input
            try:
                self._failed_keys = set(os.listdir(os.path.join(self.root, 'failed')))
            except OSError:
                self._failed_keys = set()
        if _key(name) + '.json' not in self._failed_keys:
            return None
        return _read(self._path('failed', name))

    def clear_failure(self, name: str) -> None:
        path = self._path('failed', name)
        self._failed_keys = None
        if os.path.exists(path):
            os.unlink(path)

    def remove_temporaries(self, out_dir: str, swapped_in: Collection[str] = ()) -> int:
        """Delete what a killed run left half-done: temporary files of atomic writes
        (``.NAME.*.tmp``) anywhere under ``out_dir`` except in the folders ``swapped_in``
        (dataset folders: written whole in a staging folder, then renamed, so they never
        hold a temporary; not walking their thousands of files keeps a rerun cheap),
        ``.annotate/tmp/`` and dataset staging folders (``.coco.staging``, ``.coco.old``);
        their number."""
        removed = 0
        skipped = {os.path.join(os.path.abspath(out_dir), name) for name in swapped_in}
        for name in os.listdir(out_dir) if os.path.isdir(out_dir) else []:
            if name.startswith('.') and name.endswith(('.staging', '.old')):
                shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
                removed += 1
        for root, folders, files in os.walk(out_dir):
            if os.path.abspath(root) == os.path.abspath(out_dir):
                folders[:] = [f for f in folders if os.path.join(os.path.abspath(root), f)
                              not in skipped]
            in_tmp = os.path.abspath(root).startswith(os.path.abspath(self.temporary_dir))
            for name in files:
                if in_tmp or (name.startswith('.') and name.endswith('.tmp')):
                    try:
                        os.unlink(os.path.join(root, name))
                        removed += 1
                    except OSError:
                        pass
        return removed

    @property
    def temporary_dir(self) -> str:
        """Scratch folder for outputs that cannot be written through a temporary file in
        their own folder (videos: OpenCV picks the container from the file extension)."""
        return os.path.join(self.root, 'tmp')
