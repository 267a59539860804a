"""One annotation run: predict every input of this process's shard, store each result in
the manifest as it finishes, then (rank 0, after every shard) merge all results into one
dataset per format.

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
import shutil
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ovperception.annotation.formats import write_dataset
from ovperception.annotation.manifest import Manifest, file_sha256, save_flat_names
from ovperception.annotation.overlays import draw_objects, write_video
from ovperception.annotation.predictions import sample_to_objects
from ovperception.annotation.records import (ImageRecord, ObjectAnnotation, frame_stem,
                                             unique_names)
from ovperception.annotation.sources import (InputItem, InputReadError, iterate_frames,
                                             open_capture)
from ovperception.apis import OVPredictor
from ovperception.utils.atomic import atomic_save_image, atomic_write_json
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
    flat_stems: dict[str, str] = field(default_factory=dict)
    recorded_stems: dict[str, str] = field(default_factory=dict)
    recorded_videos: set[str] = field(default_factory=set)

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
    """What one process did: new results, results reused from a previous run, failures and
    seconds spent predicting vs writing (manifest entries, frames, overlays)."""

    annotated: int = 0
    reused: int = 0
    failed: int = 0
    predict_seconds: float = 0.0
    write_seconds: float = 0.0


Objects = Sequence[Sequence[ObjectAnnotation]]


def frame_name(video_name: str, index: int) -> str:
    return f'{video_name}/{index:06d}.png'


class ShardAnnotator:
    """Annotates the inputs of one shard with a predictor, recording each in the manifest."""

    def __init__(self, predictor: OVPredictor, job: AnnotationJob, manifest: Manifest) -> None:
        self.predictor = predictor
        self.job = job
        self.manifest = manifest
        self.stats = ShardStats()

    # ---- one image ----
    def _predict(self, image: np.ndarray) -> tuple[list[ObjectAnnotation], dict]:
        start = time.perf_counter()
        self.predictor.set_image(image)
        sample = self.predictor.predict(self.job.vocabulary)
        objects, extra = sample_to_objects(sample, self.job.task, image.shape[:2],
                                           self.job.min_area, self.job.anomaly_threshold)
        self.stats.predict_seconds += time.perf_counter() - start
        return objects, extra

    def _overlay(self, image: np.ndarray, record: ImageRecord,
                 objects: list[ObjectAnnotation]) -> None:
        if self.job.overlays and record.frame_index is None:
            atomic_save_image(os.path.join(self.job.out_dir, 'overlays', record.name + '.png'),
                              draw_objects(image, objects, self.job.class_names, self.job.task))

    def annotate_image(self, item: InputItem) -> None:
        input_hash = file_sha256(item.path)
        if self.manifest.has_item(item.name, input_hash):
            self.stats.reused += 1
            return
        image = load_image(item.path)
        objects, extra = self._predict(image)
        start = time.perf_counter()
        record = ImageRecord(item.name, self.job.flat_stems[item.name], item.path,
                             int(image.shape[0]), int(image.shape[1]), item.path, extra=extra)
        self._overlay(image, record, objects)
        self.manifest.save_item(item.name, input_hash, record, objects)
        self.stats.write_seconds += time.perf_counter() - start
        self.stats.annotated += 1

    # ---- one video (or webcam) ----
    def annotate_video(self, item: InputItem) -> None:
        video_hash = file_sha256(item.path) if item.kind == 'video' else uuid.uuid4().hex
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
        if not frames:
            raise InputReadError(f'video {item.path} holds no readable frame')
        self.manifest.save_video(item.name, selection, frames, fps)

    def run(self, items: Sequence[InputItem], show_progress: bool = True,
            on_failure: Callable[[InputItem, str], None] | None = None) -> ShardStats:
        """Annotate ``items``; an unreadable input is recorded as failed and skipped."""
        for item in tqdm(items, desc='annotate', disable=not show_progress or len(items) < 2):
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
        return self.stats


# ---- merging (rank 0, after every shard finished) ----
def collect_results(job: AnnotationJob, manifest: Manifest
                    ) -> tuple[list[ImageRecord], list[list[ObjectAnnotation]], list[dict]]:
    """Records and objects of every finished input in input order (frames in frame
    order), and the failures."""
    records, objects, failures = [], [], []
    for item in job.inputs:
        failure = manifest.load_failure(item.name)
        if failure is not None:
            failures.append(failure)
            continue
        names = [item.name] if item.kind == 'image' else (
            manifest.stored_video_frames(item.name))
        for name in names:
            entry = manifest.stored_item(name)
            if entry is None:
                continue
            record = entry[0]
            # flat stems depend on the whole input list, which may differ from the run that
            # stored the record
            record.flat_stem = job.flat_stems[item.name] if record.frame_index is None else \
                frame_stem(job.flat_stems[item.name], record.frame_index)
            records.append(record)
            objects.append(entry[1])
    return records, objects, failures


def write_video_overlays(job: AnnotationJob, manifest: Manifest,
                         records: Sequence[ImageRecord],
                         objects: Sequence[Sequence[ObjectAnnotation]]) -> list[str]:
    """``videos/<name>.overlay.mp4`` for every video input, from the stored frames."""
    written = []
    for item in job.inputs:
        if item.kind == 'image':
            continue
        frames = [(r, o) for r, o in zip(records, objects)
                  if r.frame_index is not None and r.source == item.path]
        if not frames:
            continue
        path = os.path.join(job.out_dir, 'videos', item.name + '.overlay.mp4')
        fps = manifest.video_fps(item.name) / job.frame_stride
        write_video(path, (draw_objects(load_image(r.image_path), o, job.class_names, job.task)
                           for r, o in frames), fps, manifest.temporary_dir)
        written.append(path)
    return written


def staging_dirs(out_dir: str, name: str) -> tuple[str, str]:
    """``(staging, retired)`` folders of the dataset ``name``: siblings of ``OUT/name`` (the
    same depth, so relative image links stay valid when the staging folder is moved)."""
    return os.path.join(out_dir, f'.{name}.staging'), os.path.join(out_dir, f'.{name}.old')


def replace_dataset(name: str, records: Sequence[ImageRecord], objects: Objects,
                    class_names: Sequence[str], out_dir: str) -> list[str]:
    """Write the dataset into a staging folder, then swap it for ``OUT/name``: a dataset
    folder never mixes two runs (no label file of a removed or renamed input survives) and
    is never half-written."""
    final = os.path.join(out_dir, name)
    staging, retired = staging_dirs(out_dir, name)
    for folder in (staging, retired):
        shutil.rmtree(folder, ignore_errors=True)
    written = write_dataset(name, records, objects, class_names, staging)
    if os.path.exists(final):
        os.replace(final, retired)
    os.replace(staging, final)
    shutil.rmtree(retired, ignore_errors=True)
    return [os.path.join(final, os.path.relpath(p, staging)) for p in written]


def merge_outputs(job: AnnotationJob, manifest: Manifest) -> dict:
    """Write one dataset per format (and the video overlays); return the summary."""
    start = time.perf_counter()
    save_flat_names(job.out_dir, dict(job.recorded_stems, **job.flat_stems), job.video_names)
    records, objects, failures = collect_results(job, manifest)
    written = {name: replace_dataset(name, records, objects, job.class_names, job.out_dir)
               for name in job.formats}
    dataset_seconds = time.perf_counter() - start
    videos = write_video_overlays(job, manifest, records, objects)
    return dict(task=job.task, vocabulary=job.vocabulary, class_names=job.class_names,
                inputs=len(job.inputs), images=len(records),
                objects=sum(len(o) for o in objects), formats=job.formats,
                files={name: len(paths) for name, paths in written.items()},
                videos=videos, failed=failures, dataset_write_seconds=round(dataset_seconds, 3))


def write_summary(job: AnnotationJob, summary: dict, stats: Sequence[ShardStats]) -> str:
    summary = dict(summary, annotated_now=sum(s.annotated for s in stats),
                   reused=sum(s.reused for s in stats),
                   predict_seconds=round(sum(s.predict_seconds for s in stats), 3),
                   record_write_seconds=round(sum(s.write_seconds for s in stats), 3))
    path = os.path.join(job.out_dir, 'summary.json')
    atomic_write_json(path, summary)
    return path
