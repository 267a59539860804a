"""Merging (rank 0, after every shard finished): one dataset per format from the manifest.

A dataset is rewritten only when what it is made of changed: its *fingerprint* (the
hash of every record's name, flat stem, input hash and the options, the class names and
the export options) is stored in ``.annotate/datasets.json``; a rerun with nothing new
reads the manifest and rewrites nothing. Every dataset folder written into ``OUT`` by an
earlier run is kept current too (also when this run asks for fewer formats), so no
folder in ``OUT`` is stale. A rewrite goes through a staging folder swapped in whole and
costs in proportion to the new or changed records: per-record parts of the previous write
(``.annotate/parts/``) are reused (see ``formats.Reuse``); entries whose hashes the index
knows (``index.py``) are parsed only when some dataset is written.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Sequence

from ovperception.annotation.formats import DATASET_FORMATS, Reuse, write_dataset
from ovperception.annotation.job import AnnotationJob, Objects, ShardStats
from ovperception.annotation.manifest import Manifest, save_flat_names
from ovperception.annotation.overlays import draw_objects, write_video
from ovperception.annotation.records import ImageRecord, ObjectAnnotation, frame_stem
from ovperception.annotation.sources import InputItem
from ovperception.utils.atomic import atomic_write_bytes, atomic_write_json, deferred_sync
from ovperception.utils.image_io import load_image

DATASETS_FILE = 'datasets.json'
PARTS_DIR = 'parts'


@dataclass
class StoredResult:
    """One finished image or frame of this run's inputs, as the datasets name it (its
    objects are read from the manifest only when a dataset or overlay needs them)."""

    item: InputItem
    name: str
    flat_stem: str
    image_path: str
    input_hash: str
    object_count: int


def _frame_index(frame: str) -> int:
    return int(os.path.splitext(os.path.basename(frame))[0])


def collect_results(job: AnnotationJob, manifest: Manifest
                    ) -> tuple[list[StoredResult], list[dict]]:
    """Every finished image and frame of this run's inputs in input order (frames in
    frame order), and the failures. Names and paths are this run's (flat_names.json;
    SOURCE or OUT may have moved since the run that stored a record). Reads no entry
    whose hashes the index knows."""
    results, failures = [], []
    for item in job.inputs:
        failure = manifest.load_failure(item.name)
        if failure is not None:
            failures.append(failure)
            continue
        names = [item.name] if item.kind == 'image' else (
            manifest.stored_video_frames(item.name))
        for name in names:
            stored = manifest.stored_hash_and_count(name)
            if stored is None:
                continue
            if item.kind == 'image':
                flat_stem, image_path = job.flat_stems[item.name], item.path
            else:
                flat_stem = frame_stem(job.flat_stems[item.name], _frame_index(name))
                image_path = os.path.join(job.out_dir, 'frames', name)
            results.append(StoredResult(item, name, flat_stem, image_path, *stored))
    return results, failures


def load_results(manifest: Manifest, results: Sequence[StoredResult]
                 ) -> tuple[list[ImageRecord], list[list[ObjectAnnotation]], list[str]]:
    """The records (with this run's names and paths), objects and input hashes of
    ``results``."""
    records, objects, hashes = [], [], []
    for result in results:
        stored = manifest.stored_item(result.name)
        if stored is None:  # removed meanwhile: treated as not finished
            continue
        record, objs = stored
        record.source, record.flat_stem = result.item.path, result.flat_stem
        record.image_path = result.image_path
        records.append(record)
        objects.append(objs)
        hashes.append(result.input_hash)
    return records, objects, hashes


def results_digest(results: Sequence[StoredResult]) -> str:
    """Hex SHA-256 of every result's name, flat stem, image path and input hash."""
    digest = hashlib.sha256()
    for result in results:
        digest.update(json.dumps([result.name, result.flat_stem, result.image_path,
                                  result.input_hash]).encode())
    return digest.hexdigest()


def dataset_fingerprint(job: AnnotationJob, name: str, records_digest: str) -> str:
    """Hex SHA-256 of everything the dataset ``name`` is written from (``records_digest``:
    :func:`results_digest`)."""
    return hashlib.sha256(json.dumps(dict(
        format=name, options=job.options_digest, classes=job.class_names, task=job.task,
        export=asdict(job.export), records=records_digest), sort_keys=True).encode()
    ).hexdigest()


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


def _parts_path(manifest: Manifest, name: str) -> str:
    return os.path.join(manifest.root, PARTS_DIR, f'{name}.json')


def load_parts(manifest: Manifest, name: str) -> dict:
    """``{record key: part}`` stored by the last write of the dataset ``name``."""
    try:
        with open(_parts_path(manifest, name), encoding='utf-8') as handle:
            parts = json.load(handle)
    except (OSError, ValueError):
        return {}
    return parts if isinstance(parts, dict) else {}


def record_keys(job: AnnotationJob, name: str, records: Sequence[ImageRecord],
                hashes: Sequence[str]) -> list[str]:
    """One key per record of the dataset ``name``: it changes whenever anything that the
    record's output is made of changes (see ``formats.Reuse``)."""
    context = dataset_fingerprint(job, name, '')
    return [hashlib.sha256(json.dumps(
        [context, r.name, r.flat_stem, r.image_path, r.source, h]).encode()).hexdigest()
        for r, h in zip(records, hashes)]


def replace_dataset(job: AnnotationJob, manifest: Manifest, name: str,
                    records: Sequence[ImageRecord], objects: Objects,
                    hashes: Sequence[str]) -> list[str]:
    """Write the dataset into a staging folder, then swap it for ``OUT/name``: a dataset
    folder never mixes two runs (no label file of a removed or renamed input survives) and
    is never half-written. The staging files are synced once, before the swap.

    Cost is proportional to the new or changed records: the per-record parts of the
    previous write (``.annotate/parts/<name>.json``) are reused -- whole-file formats
    assemble their files from stored fragments, per-image formats hard-link the files of
    unchanged records from the folder being replaced (see ``formats.Reuse``)."""
    final = os.path.join(job.out_dir, name)
    staging, retired = staging_dirs(job.out_dir, name)
    for folder in (staging, retired):
        shutil.rmtree(folder, ignore_errors=True)
    keys = record_keys(job, name, records, hashes)
    reuse = Reuse(keys, load_parts(manifest, name),
                  final if os.path.isdir(final) else None)
    with deferred_sync():  # the staging folder is invisible until swapped in: one sync
        written = write_dataset(name, records, objects, job.class_names, staging, job.export,
                                reuse)
    if os.path.exists(final):
        os.replace(final, retired)
    os.replace(staging, final)
    shutil.rmtree(retired, ignore_errors=True)
    current = set(keys)
    atomic_write_bytes(_parts_path(manifest, name), json.dumps(
        {k: v for k, v in reuse.parts.items() if k in current},
        separators=(',', ':')).encode('utf-8'))
    return [os.path.join(final, os.path.relpath(p, staging)) for p in written]


def write_video_overlays(job: AnnotationJob, manifest: Manifest,
                         results: Sequence[StoredResult]) -> list[str]:
    """``videos/<name>.overlay.mp4`` of every video input, from the stored frames; one
    that exists and is newer than the video's manifest entry is left alone (its frames
    are not read)."""
    written = []
    for item in job.inputs:
        if item.kind == 'image':
            continue
        frames = [r for r in results if r.item is item]
        if not frames:
            continue
        path = os.path.join(job.out_dir, 'videos', item.name + '.overlay.mp4')
        written.append(path)
        entry_time = manifest.video_mtime(item.name)
        if os.path.isfile(path) and entry_time is not None and \
                os.path.getmtime(path) >= entry_time:
            continue
        records, objects, _ = load_results(manifest, frames)
        fps = manifest.video_fps(item.name) / job.frame_stride
        write_video(path, (draw_objects(load_image(r.image_path), o, job.class_names, job.task)
                           for r, o in zip(records, objects)), fps, manifest.temporary_dir)
    return written


def merge_outputs(job: AnnotationJob, manifest: Manifest, world_size: int = 1) -> dict:
    """Bring every dataset of ``OUT`` up to date (and the video overlays); the summary."""
    start = time.perf_counter()
    flat_names = dict(job.recorded_stems, **job.flat_stems)
    if flat_names != job.recorded_stems or job.video_names != job.recorded_videos:
        save_flat_names(job.out_dir, flat_names, job.video_names)
    results, failures = collect_results(job, manifest)
    records_digest = results_digest(results)
    fingerprints = load_fingerprints(manifest)
    earlier = [name for name in fingerprints if name not in job.formats
               and os.path.isdir(os.path.join(job.out_dir, name))]
    rewritten, files, loaded = [], {}, None
    for name in job.formats + earlier:
        fingerprint = dataset_fingerprint(job, name, records_digest)
        if fingerprints.get(name) == fingerprint and os.path.isdir(
                os.path.join(job.out_dir, name)):
            continue
        if loaded is None:  # objects are read only when some dataset is written
            loaded = load_results(manifest, results)
        files[name] = len(replace_dataset(job, manifest, name, *loaded))
        fingerprints[name] = fingerprint
        rewritten.append(name)
        atomic_write_json(_datasets_path(manifest), fingerprints)
    dataset_seconds = time.perf_counter() - start
    videos = write_video_overlays(job, manifest, results)
    manifest.index.save(world_size, {i.name for i in job.inputs},
                        {r.name for r in results})
    return dict(task=job.task, vocabulary=job.vocabulary, class_names=job.class_names,
                inputs=len(job.inputs), images=len(results),
                objects=sum(r.object_count for r in results), formats=job.formats,
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
