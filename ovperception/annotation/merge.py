"""Merging (rank 0, after every shard finished): one dataset per format from the manifest.

A dataset is rewritten only when what it is made of changed: its *fingerprint* (the
hash of every record's name, flat stem, input hash and the options, the class names and
the export options) is stored in ``.annotate/datasets.json``; a rerun with nothing new
reads the manifest and rewrites nothing. Every dataset folder written into ``OUT`` by an
earlier run is kept current too (also when this run asks for fewer formats), so no
folder in ``OUT`` is stale. A rewrite goes through a staging folder swapped in whole.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict
from typing import Sequence

from ovperception.annotation.formats import DATASET_FORMATS, write_dataset
from ovperception.annotation.job import AnnotationJob, Objects, ShardStats
from ovperception.annotation.manifest import Manifest, save_flat_names
from ovperception.annotation.overlays import draw_objects, write_video
from ovperception.annotation.records import ImageRecord, ObjectAnnotation, frame_stem
from ovperception.utils.atomic import atomic_write_json, deferred_sync
from ovperception.utils.image_io import load_image

DATASETS_FILE = 'datasets.json'


def collect_results(job: AnnotationJob, manifest: Manifest
                    ) -> tuple[list[ImageRecord], list[list[ObjectAnnotation]], list[dict],
                               list[str]]:
    """Records and objects of every finished input in input order (frames in frame
    order), the failures, and each record's input hash (for fingerprints)."""
    records, objects, failures, hashes = [], [], [], []
    for item in job.inputs:
        failure = manifest.load_failure(item.name)
        if failure is not None:
            failures.append(failure)
            continue
        names = [item.name] if item.kind == 'image' else (
            manifest.stored_video_frames(item.name))
        for name in names:
            entry = manifest.stored_item(name, with_hash=True)
            if entry is None:
                continue
            record, objs, input_hash = entry
            # names and paths are this run's (flat_names.json; SOURCE or OUT may have
            # moved since the run that stored the record)
            record.source = item.path
            if record.frame_index is None:
                record.flat_stem, record.image_path = job.flat_stems[item.name], item.path
            else:
                record.flat_stem = frame_stem(job.flat_stems[item.name], record.frame_index)
                record.image_path = os.path.join(job.out_dir, 'frames', name)
            records.append(record)
            objects.append(objs)
            hashes.append(input_hash)
    return records, objects, failures, hashes


def dataset_fingerprint(job: AnnotationJob, name: str, records: Sequence[ImageRecord],
                        hashes: Sequence[str]) -> str:
    """Hex SHA-256 of everything the dataset ``name`` is written from."""
    digest = hashlib.sha256(json.dumps(dict(
        format=name, options=job.options_digest, classes=job.class_names, task=job.task,
        export=asdict(job.export)), sort_keys=True).encode())
    for record, input_hash in zip(records, hashes):
        digest.update(json.dumps([record.name, record.flat_stem, record.image_path,
                                  input_hash]).encode())
    return digest.hexdigest()


def _datasets_path(manifest: Manifest) -> str:
    return os.path.join(manifest.root, DATASETS_FILE)


def load_fingerprints(manifest: Manifest) -> dict[str, str]:
    """``{format: fingerprint}`` of the datasets now in ``OUT``."""
    try:
        with open(_datasets_path(manifest), encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items() if k in DATASET_FORMATS} \
        if isinstance(data, dict) else {}


def staging_dirs(out_dir: str, name: str) -> tuple[str, str]:
    """``(staging, retired)`` folders of the dataset ``name``: siblings of ``OUT/name`` (the
    same depth, so relative image links stay valid when the staging folder is moved)."""
    return os.path.join(out_dir, f'.{name}.staging'), os.path.join(out_dir, f'.{name}.old')


def replace_dataset(job: AnnotationJob, name: str, records: Sequence[ImageRecord],
                    objects: Objects) -> list[str]:
    """Write the dataset into a staging folder, then swap it for ``OUT/name``: a dataset
    folder never mixes two runs (no label file of a removed or renamed input survives) and
    is never half-written. The staging files are synced once, before the swap."""
    final = os.path.join(job.out_dir, name)
    staging, retired = staging_dirs(job.out_dir, name)
    for folder in (staging, retired):
        shutil.rmtree(folder, ignore_errors=True)
    with deferred_sync():  # the staging folder is invisible until swapped in: one sync
        written = write_dataset(name, records, objects, job.class_names, staging, job.export)
    if os.path.exists(final):
        os.replace(final, retired)
    os.replace(staging, final)
    shutil.rmtree(retired, ignore_errors=True)
    return [os.path.join(final, os.path.relpath(p, staging)) for p in written]


def write_video_overlays(job: AnnotationJob, manifest: Manifest,
                         records: Sequence[ImageRecord], objects: Objects) -> list[str]:
    """``videos/<name>.overlay.mp4`` of every video input, from the stored frames; one
    that exists and is newer than the video's manifest entry is left alone."""
    written = []
    for item in job.inputs:
        if item.kind == 'image':
            continue
        frames = [(r, o) for r, o in zip(records, objects)
                  if r.frame_index is not None and r.source == item.path]
        if not frames:
            continue
        path = os.path.join(job.out_dir, 'videos', item.name + '.overlay.mp4')
        written.append(path)
        entry_time = manifest.video_mtime(item.name)
        if os.path.isfile(path) and entry_time is not None and \
                os.path.getmtime(path) >= entry_time:
            continue
        fps = manifest.video_fps(item.name) / job.frame_stride
        write_video(path, (draw_objects(load_image(r.image_path), o, job.class_names, job.task)
                           for r, o in frames), fps, manifest.temporary_dir)
    return written


def merge_outputs(job: AnnotationJob, manifest: Manifest) -> dict:
    """Bring every dataset of ``OUT`` up to date (and the video overlays); the summary."""
    start = time.perf_counter()
    save_flat_names(job.out_dir, dict(job.recorded_stems, **job.flat_stems), job.video_names)
    records, objects, failures, hashes = collect_results(job, manifest)
    fingerprints = load_fingerprints(manifest)
    earlier = [name for name in fingerprints if name not in job.formats
               and os.path.isdir(os.path.join(job.out_dir, name))]
    rewritten, files = [], {}
    for name in job.formats + earlier:
        fingerprint = dataset_fingerprint(job, name, records, hashes)
        if fingerprints.get(name) == fingerprint and os.path.isdir(
                os.path.join(job.out_dir, name)):
            continue
        files[name] = len(replace_dataset(job, name, records, objects))
        fingerprints[name] = fingerprint
        rewritten.append(name)
        atomic_write_json(_datasets_path(manifest), fingerprints)
    dataset_seconds = time.perf_counter() - start
    videos = write_video_overlays(job, manifest, records, objects)
    return dict(task=job.task, vocabulary=job.vocabulary, class_names=job.class_names,
                inputs=len(job.inputs), images=len(records),
                objects=sum(len(o) for o in objects), formats=job.formats,
                formats_of_earlier_runs=earlier, datasets_rewritten=rewritten,
                files=files, image_files='copies' if job.export.copy_images else 'symlinks',
                videos=videos, failed=failures, dataset_write_seconds=round(dataset_seconds, 3))


def write_summary(job: AnnotationJob, summary: dict, stats: Sequence[ShardStats]) -> str:
    summary = dict(summary, annotated_now=sum(s.annotated for s in stats),
                   reused=sum(s.reused for s in stats),
                   model_built=any(s.model_built for s in stats),
                   build_seconds=round(max((s.build_seconds for s in stats), default=0.0), 3),
                   predict_seconds=round(sum(s.predict_seconds for s in stats), 3),
                   record_write_seconds=round(sum(s.write_seconds for s in stats), 3))
    path = os.path.join(job.out_dir, 'summary.json')
    atomic_write_json(path, summary)
    return path
