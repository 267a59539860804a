"""Overlays of annotated images and the annotated video of a video input."""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import cv2
import numpy as np

from ovperception.annotation.records import ObjectAnnotation
from ovperception.visualization import draw_instances, draw_sem_seg
from ovperception.visualization.canvas import pad_to

#: Tasks whose objects partition the image (drawn as a class map with a legend).
REGION_TASKS = ('seg', 'panoptic', 'anomaly')


def draw_objects(image: np.ndarray, objects: Sequence[ObjectAnnotation],
                 class_names: Sequence[str], task: str, min_size: int = 256) -> np.ndarray:
    """(H', W', 3) RGB overlay: a class map with legend for region tasks, else boxes with
    ``name score`` tags and masks."""
    if task in REGION_TASKS and all(o.has_mask for o in objects):
        label_map = np.full(image.shape[:2], 255, np.int64)
        for obj in objects:
            label_map[obj.mask] = obj.label
        return draw_sem_seg(image, label_map, list(class_names), min_size=min_size)
    boxes = np.array([o.bbox for o in objects], np.float64).reshape(-1, 4)
    labels = np.array([o.label for o in objects], np.int64)
    scores = None if any(o.score is None for o in objects) else np.array(
        [o.score for o in objects], np.float64)
    masks = np.stack([o.mask for o in objects]) if objects and all(
        o.has_mask for o in objects) else None
    return draw_instances(image, boxes, labels, scores, list(class_names), masks=masks,
                          min_size=min_size)


def write_video(path: str, frames: Iterable[np.ndarray], fps: float, scratch_dir: str) -> int:
    """Encode RGB frames as an mp4 (``mp4v``) at ``path``, atomically; frame count.

    Frames are padded / cropped to the first frame's size. The file is written under
    ``scratch_dir`` (same file system) and moved into place when complete.
    """
    os.makedirs(scratch_dir, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = os.path.join(scratch_dir, f'{os.getpid()}_{os.path.basename(path)}')
    if not temporary.lower().endswith('.mp4'):
        temporary += '.mp4'
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(temporary, cv2.VideoWriter_fourcc(*'mp4v'),
                                         fps if fps > 0 else 1.0, (width, height))
                if not writer.isOpened():
                    raise RuntimeError(f'OpenCV cannot write the video {path} (mp4v)')
            frame = pad_to(frame, height, width)[:height, :width]
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count:
        os.replace(temporary, path)
    elif os.path.exists(temporary):
        os.unlink(temporary)
    return count
