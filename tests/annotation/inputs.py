"""Input folders for the annotate tool tests: colliding names, a broken file, a video."""
from __future__ import annotations

import glob
import json
import os

import cv2
import numpy as np

from ovperception.annotation import ImageRecord, ObjectAnnotation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEG_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
ANNOTATE = os.path.join(ROOT, 'tools', 'annotate.py')
VOCAB = '猫 cat, dog; puppy, 🐱'
CLASSES = ['猫 cat', 'dog', '🐱']
VIDEO_FPS = 5.0


def write_video(path: str, frames: int = 6, size: tuple[int, int] = (48, 64)) -> None:
    """A short mp4 of a bright bar moving right (mp4v, 5 fps)."""
    height, width = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), VIDEO_FPS, (width, height))
    for index in range(frames):
        frame = np.full((height, width, 3), 40, np.uint8)
        frame[:, index * 8:index * 8 + 20] = (60, 200, 240)
        writer.write(frame)
    writer.release()


def make_inputs(root: str, images: tuple[str, ...] = ('a/x.jpg', 'a/x.png', 'b/x.jpg'),
                broken: bool = True, video: bool = True, size: tuple[int, int] = (48, 64)
                ) -> str:
    """A folder of images with colliding names, a broken file and a short video."""
    rng = np.random.RandomState(0)
    for name in images:
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        image = (rng.rand(*size, 3) * 255).astype(np.uint8)
        cv2.rectangle(image, (8, 8), (size[1] // 2, size[0] // 2), (250, 30, 30), -1)
        cv2.imwrite(path, image)
    if broken:
        with open(os.path.join(root, 'broken.jpg'), 'wb') as handle:
            handle.write(b'\xff\xd8 this is not a JPEG')
    if video:
        write_video(os.path.join(root, 'clip.mp4'))
    return root


def stored_results(out: str) -> dict[str, tuple[ImageRecord, list[ObjectAnnotation]]]:
    """What the run stored per image/frame (the manifest), keyed by record name."""
    results = {}
    for path in glob.glob(os.path.join(out, '.annotate', 'items', '*.json')):
        with open(path, encoding='utf-8') as handle:
            entry = json.load(handle)
        results[entry['name']] = (ImageRecord.from_json(entry['record']),
                                  [ObjectAnnotation.from_json(o) for o in entry['objects']])
    return results


def summary(out: str) -> dict:
    with open(os.path.join(out, 'summary.json'), encoding='utf-8') as handle:
        return json.load(handle)


def annotate_args(source: str, out: str, *extra: str) -> list[str]:
    return [source, '--vocab', VOCAB, '--out', out, '--config', SEG_TINY, '--device', 'cpu',
            '--min-area', '20', '--no-progress', *extra]
