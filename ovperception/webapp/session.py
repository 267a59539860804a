"""Per-user state of the web app: a private temporary folder and the encoded image."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ovperception.apis.predictor import OVPredictor
from ovperception.structures import OVDataSample


@dataclass
class LastResult:
    """What the page shows now, kept for clicks (inspection, SAM refinement).

    Attributes:
        task: the task that produced ``sample``.
        sample: the prediction (fields at the input image's size).
        image: (H, W, 3) uint8 RGB input.
        name: file name of the input (stem of the written files).
        source: path of the uploaded file (copied into the exported datasets; empty when the
            image was downscaled: the datasets then hold the pixels that were annotated).
        unfiltered: detection only: the model's prediction before the page's score threshold
            and top-k (``sample`` is it filtered), so that they change without a model run.
    """

    task: str
    sample: OVDataSample
    image: np.ndarray
    name: str
    source: str = ''
    unfiltered: OVDataSample | None = None


@dataclass
class AppSession:
    """One browser session: nothing here is shared with another user.

    Attributes:
        folder: private temporary folder (uploads copied in, outputs written); removed by
            :meth:`close` when the session ends.
        predictors: one predictor per config, holding that config's encoding of the image.
        encoded: config -> key of the image its predictor encoded.
        encode_count: how many times an image was encoded (a vocabulary change must not add).
        last: the latest result, for clicks.
        prompts: SAM prompts clicked so far: (x, y, 1 foreground / 0 background).
        box_corner: first corner of a box being clicked, or None.
        sam_image: (image key, SAM's encoding) of the image SAM last encoded.
        runs: number of runs (each writes into its own sub-folder).
        formats: dataset formats written with every result (``tools/annotate.py``'s names).
        reference_paths: the normal images uploaded for calibration; models that compare
            each image against normal images (AnomalyDINO's references, MuSc's set) use them.
    """

    folder: str
    predictors: dict[str, OVPredictor] = field(default_factory=dict)
    encoded: dict[str, str] = field(default_factory=dict)
    encode_count: int = 0
    last: LastResult | None = None
    prompts: list[tuple[float, float, int]] = field(default_factory=list)
    box_corner: tuple[float, float] | None = None
    sam_image: tuple[str, object] | None = None
    runs: int = 0
    formats: tuple[str, ...] = ('coco',)
    reference_paths: tuple[str, ...] = ()

    @classmethod
    def create(cls, root: str) -> AppSession:
        """A session with a fresh private folder under ``root``."""
        return cls(folder=tempfile.mkdtemp(prefix='session-', dir=root))

    def close(self) -> None:
        """Remove the session's folder and forget its images."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.predictors.clear()
        self.encoded.clear()
        self.last = None
        self.sam_image = None


def image_key(image: np.ndarray) -> str:
    """Content key of an (H, W, 3) image: same pixels, same key."""
    digest = hashlib.sha1(np.ascontiguousarray(image).data)
    digest.update(str(image.shape).encode())
    return digest.hexdigest()


def folder_bytes(folder: str) -> int:
    """Total size of the files under ``folder`` (0 if it is gone)."""
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.path.getsize(os.path.join(parent, name))
            except OSError:  # removed meanwhile
                pass
    return total


class SessionStore:
    """The app's sessions by browser-session key, with bounded disk use.

    A session is removed (folder and images) when its page closes (:meth:`close`), after
    ``ttl_s`` idle, and - least recently used first - whenever the sessions' folders
    together exceed ``max_bytes`` (the session being served is never removed).

    Args:
        root: parent of the session folders.
        max_bytes: disk budget of all session folders together.
        ttl_s: idle time after which a session is removed.
    """

    def __init__(self, root: str, max_bytes: int = 2 << 30, ttl_s: float = 1800.0) -> None:
        self.root, self.max_bytes, self.ttl_s = root, int(max_bytes), float(ttl_s)
        os.makedirs(root, exist_ok=True)
        self._sessions: OrderedDict[str, tuple[AppSession, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, key: str) -> AppSession:
        """The session of ``key`` (created on first use); marks it as just used and
        removes sessions idle for longer than ``ttl_s``."""
        now = time.monotonic()
        with self._lock:
            entry = self._sessions.pop(key, None)
            session = entry[0] if entry else AppSession.create(self.root)
            self._sessions[key] = (session, now)
            for other, (old, used) in list(self._sessions.items()):
                if other != key and now - used > self.ttl_s:
                    self._drop(other)
        return session

    def close(self, key: str) -> None:
        """Remove the session of ``key`` (its page was closed)."""
        with self._lock:
            self._drop(key)

    def enforce_budget(self, keep: str) -> int:
        """Remove least recently used sessions other than ``keep`` until all folders fit in
        ``max_bytes``; returns the bytes in use afterwards."""
        with self._lock:
            sizes = {key: folder_bytes(session.folder)
                     for key, (session, _) in self._sessions.items()}
            total = sum(sizes.values())
            for key in list(self._sessions):
                if total <= self.max_bytes:
                    break
                if key != keep:
                    total -= sizes[key]
                    self._drop(key)
            return total

    def close_all(self) -> None:
        with self._lock:
            for key in list(self._sessions):
                self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._sessions.pop(key, None)
        if entry is not None:
            entry[0].close()
