"""One annotation run: predict every input of this process's shard, store each result in
the manifest as it finishes; ``merge.py`` then (rank 0, after every shard) merges all
results into one dataset per format.

Layout of ``OUT``::

    coco/ yolo/ voc/ labelstudio/ cvat/   one merged dataset per requested format
    frames/<video name>/<index>.png       the annotated frames of each video
    videos/<video name>.overlay.mp4       each video with its annotations drawn
    overlays/<image name>.png             with --overlays: every annotated image drawn
    summary.json                          counts, timings, failed inputs and the reason
    .annotate/                            the manifest (resume state), see manifest.py
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from ovperception.annotation.formats import ExportOptions
from ovperception.annotation.manifest import Manifest
from ovperception.annotation.overlays import draw_objects
from ovperception.annotation.predictions import sample_to_objects
from ovperception.annotation.progress import ShardProgress
from ovperception.annotation.records import (ImageRecord, ObjectAnnotation, frame_stem,
                                             unique_names)
from ovperception.annotation.sources import (InputItem, InputReadError, iterate_frames,
                                             open_capture)
from ovperception.apis import OVPredictor
from ovperception.utils.atomic import atomic_save_image
from ovperception.utils.image_io import ImageReadError, load_image


@dataclass
class AnnotationJob:
    """What to annotate and how (the same on every process of a run)."""

    inputs: list[InputItem]
    vocabulary: list[str]
    class_names: list[str]
    task: str
    formats: list[str]
    out_dir: str
    options_digest: str
    frame_stride: int = 1
    max_frames: int | None = None
    min_area: int = 1
    anomaly_threshold: float = 0.5
    overlays: bool = False
    export: ExportOptions = field(default_factory=ExportOptions)
    flat_stems: dict[str, str] = field(default_factory=dict)
    recorded_stems: dict[str, str] = field(default_factory=dict)
    recorded_videos: set[str] = field(default_factory=set)
    #: per input name, the vocabulary indices its prediction is restricted to (``--tags-from``
    #: or names chosen per image); None: every input uses the whole vocabulary
    image_labels: dict[str, list[int]] | None = None
    #: the predictor a vocabulary-free run built to choose the names (reused, not rebuilt)
    prebuilt_predictor: OVPredictor | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Flat stems for every input: those of ``recorded_stems`` (earlier runs) kept,
        new ones unique against them and each other (``records.unique_names``)."""
        if not self.flat_stems:
            names = [item.name for item in self.inputs]
            self.flat_stems = dict(zip(names, unique_names(
                names, self.video_names, self.recorded_stems)))

    @property
    def video_names(self) -> set[str]:
        """Names of the inputs (now or recorded) whose frames become images."""
        return {i.name for i in self.inputs if i.kind != 'image'} | self.recorded_videos


@dataclass
class ShardStats:
    """What one process did: new results, results reused from a previous run, failures,
    whether it built the model (not when nothing was new) and seconds spent building,
    predicting and writing (manifest entries, frames, overlays)."""

    annotated: int = 0
    reused: int = 0
    failed: int = 0
    model_built: bool = False
    build_seconds: float = 0.0
    predict_seconds: float = 0.0
    write_seconds: float = 0.0


Objects = Sequence[Sequence[ObjectAnnotation]]


def frame_name(video_name: str, index: int) -> str:
    return f'{video_name}/{index:06d}.png'


class ShardAnnotator:
    """Annotates the inputs of one shard, recording each in the manifest.

    The predictor is built by ``build_predictor`` on the first input that needs a
    prediction: a rerun with nothing new never builds the model, and outputs that only
    add files (``--overlays``) are drawn for finished inputs from their stored objects.

    Args:
        build_predictor: makes the predictor (called at most once).
        job: what to annotate and how.
        manifest: where results are stored.
        stop_requested: polled after each input and each video frame; when it holds, the
            run stops there (``KeyboardInterrupt``) with that input's result kept.
    """

    def __init__(self, build_predictor: Callable[[], OVPredictor], job: AnnotationJob,
                 manifest: Manifest, stop_requested: Callable[[], bool] = lambda: False
                 ) -> None:
        self._build_predictor = build_predictor
        self._predictor: OVPredictor | None = None
        self.job = job
        self.manifest = manifest
        self.stop_requested = stop_requested
        self.stats = ShardStats()
        self.progress: ShardProgress | None = None

    @property
    def predictor(self) -> OVPredictor:
        if self._predictor is None:
            start = time.perf_counter()
            self._predictor = self._build_predictor()
            self.stats.model_built = True
            self.stats.build_seconds = time.perf_counter() - start
        return self._predictor

    def _check_stop(self) -> None:
        if self.stop_requested():
            raise KeyboardInterrupt

    # ---- one image ----
    def _predict(self, image: np.ndarray, name: str | None = None
                 ) -> tuple[list[ObjectAnnotation], dict]:
        """Objects of ``image``; with per-image vocabularies, predicted with input ``name``'s
        names only and their labels mapped into the job's vocabulary."""
        labels = None if self.job.image_labels is None else self.job.image_labels[name]
        if labels == []:  # an image tagged with no class: nothing to find
            return [], {}
        predictor = self.predictor
        start = time.perf_counter()
        predictor.set_image(image)
        vocabulary = self.job.vocabulary if labels is None else [
            self.job.vocabulary[i] for i in labels]
        sample = predictor.predict(vocabulary)
        objects, extra = sample_to_objects(sample, self.job.task, image.shape[:2],
                                           self.job.min_area, self.job.anomaly_threshold)
        if labels is not None:
            for obj in objects:
                obj.label = labels[obj.label]
        self.stats.predict_seconds += time.perf_counter() - start
        return objects, extra

    def overlay_path(self, record_name: str) -> str:
        return os.path.join(self.job.out_dir, 'overlays', record_name + '.png')

    def _overlay(self, image: np.ndarray, record: ImageRecord,
                 objects: Sequence[ObjectAnnotation]) -> None:
        if self.job.overlays and record.frame_index is None:
            atomic_save_image(self.overlay_path(record.name),
                              draw_objects(image, objects, self.job.class_names, self.job.task))

    def _reuse_image(self, item: InputItem) -> None:
        """A finished image: draw its missing overlay from the stored objects."""
        self.stats.reused += 1
        if not self.job.overlays or os.path.isfile(self.overlay_path(item.name)):
            return
        stored = self.manifest.stored_item(item.name)
        if stored is not None:
            start = time.perf_counter()
            self._overlay(load_image(item.path), stored[0], stored[1])
            self.stats.write_seconds += time.perf_counter() - start

    def annotate_image(self, item: InputItem) -> None:
        input_hash = self.manifest.input_hash(item.name, item.path)
        if self.manifest.has_item(item.name, input_hash):
            self._reuse_image(item)
            return
        image = load_image(item.path)
        objects, extra = self._predict(image, item.name)
        start = time.perf_counter()
        record = ImageRecord(item.name, self.job.flat_stems[item.name], item.path,
                             int(image.shape[0]), int(image.shape[1]), item.path, extra=extra)
        self._overlay(image, record, objects)
        self.manifest.save_item(item.name, input_hash, record, objects)
        self.stats.write_seconds += time.perf_counter() - start
        self.stats.annotated += 1

    # ---- one video (or webcam) ----
    def annotate_video(self, item: InputItem) -> None:
        video_hash = self.manifest.input_hash(item.name, item.path) \
            if item.kind == 'video' else uuid.uuid4().hex
        selection = f'{video_hash}:stride={self.job.frame_stride}:max={self.job.max_frames}'
        if self.manifest.load_video(item.name, selection) is not None:
            self.stats.reused += 1
            return
        capture = open_capture(item)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        capture.release()
        frames = []
        for frame in iterate_frames(item, self.job.frame_stride, self.job.max_frames,
                                    lambda index: self.manifest.has_item(
                                        frame_name(item.name, index), f'{video_hash}:{index}')):
            name = frame_name(item.name, frame.index)
            frames.append(name)
            if frame.image is None:
                self.stats.reused += 1
                continue
            objects, extra = self._predict(frame.image)
            start = time.perf_counter()
            frame_path = os.path.join(self.job.out_dir, 'frames', name)
            atomic_save_image(frame_path, frame.image)
            record = ImageRecord(name, frame_stem(self.job.flat_stems[item.name], frame.index),
                                 os.path.abspath(frame_path), int(frame.image.shape[0]),
                                 int(frame.image.shape[1]), item.path, frame.index,
                                 frame.timestamp, extra)
            self.manifest.save_item(name, f'{video_hash}:{frame.index}', record, objects)
            self.stats.write_seconds += time.perf_counter() - start
            self.stats.annotated += 1
            if self.progress is not None:
                self.progress.frame(item.name, frame.index)
            self._check_stop()
        if not frames:
            raise InputReadError(f'video {item.path} holds no readable frame')
        self.manifest.save_video(item.name, selection, frames, fps)

    def run(self, items: Sequence[InputItem], progress: ShardProgress | None = None,
            on_failure: Callable[[InputItem, str], None] | None = None) -> ShardStats:
        """Annotate ``items``; an unreadable input is recorded as failed and skipped.
        ``progress`` advances per input (its owner closes it).

        Raises:
            KeyboardInterrupt: a stop was requested (after the input in flight is stored).
        """
        self.progress = progress
        for item in items:
            try:
                if item.kind == 'image':
                    self.annotate_image(item)
                else:
                    self.annotate_video(item)
            except (ImageReadError, InputReadError, OSError) as error:
                self.stats.failed += 1
                self.manifest.save_failure(item.name, item.path, str(error))
                if on_failure is not None:
                    on_failure(item, str(error))
            if progress is not None:
                progress.advance()
            self._check_stop()
        return self.stats
