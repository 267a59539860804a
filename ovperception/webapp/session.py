"""Per-user state of the web app: a private temporary folder and the encoded image."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
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
        source: path of the uploaded file (copied into the exported datasets).
    """

    task: str
    sample: OVDataSample
    image: np.ndarray
    name: str
    source: str = ''


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
        runs: number of runs (each writes into its own sub-folder).
        formats: dataset formats written with every result (``tools/annotate.py``'s names).
    """

    folder: str
    predictors: dict[str, OVPredictor] = field(default_factory=dict)
    encoded: dict[str, str] = field(default_factory=dict)
    encode_count: int = 0
    last: LastResult | None = None
    prompts: list[tuple[float, float, int]] = field(default_factory=list)
    box_corner: tuple[float, float] | None = None
    runs: int = 0
    formats: tuple[str, ...] = ('coco',)

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


def image_key(image: np.ndarray) -> str:
    """Content key of an (H, W, 3) image: same pixels, same key."""
    digest = hashlib.sha1(np.ascontiguousarray(image).data)
    digest.update(str(image.shape).encode())
    return digest.hexdigest()
