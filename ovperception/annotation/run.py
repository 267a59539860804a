"""The whole command: validate everything, build the model, annotate this process's shard,
wait for the others, merge (rank 0). ``tools/annotate.py`` is its argument parser."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from mmengine.config import Config

from ovperception.annotation.distributed import init_launcher, shard, wait_for_all
from ovperception.annotation.formats import parse_formats
from ovperception.annotation.job import (AnnotationJob, ShardAnnotator, ShardStats,
                                         merge_outputs, write_summary)
from ovperception.annotation.manifest import Manifest, options_hash
from ovperception.annotation.model import build_predictor, resolve_config
from ovperception.annotation.sources import InputItem, collect_inputs
from ovperception.engine.distributed import closing_process_group
from ovperception.models.clip.vocabulary import parse_vocabulary_string
from ovperception.utils.atomic import atomic_write_json, to_jsonable
from ovperception.utils.device import resolve_device


@dataclass
class AnnotateSettings:
    """The command line of ``tools/annotate.py`` (see its ``--help``)."""

    source: str
    vocab: str
    out: str
    config: str | None = None
    weights: str | None = None
    task: str | None = None
    formats: str = 'coco,yolo,voc,labelstudio,cvat'
    device: str = 'auto'
    frame_stride: int = 1
    max_frames: int | None = None
    min_area: int = 1
    score_thr: float | None = None
    anomaly_threshold: float | None = None
    overlays: bool = False
    launcher: str = 'none'
    seed: int = 0
    cfg_options: dict = field(default_factory=dict)
    progress: bool = True


def class_names_of(vocabulary: list[str]) -> list[str]:
    """Display name of each vocabulary entry: its first synonym (``'cat; kitten'`` -> cat)."""
    return [entry.split(';')[0].strip() for entry in vocabulary]


def check_out_dir(out: str, source: str, inputs: list[InputItem]) -> None:
    """Refuse an output folder that is a file, the input folder or inside it, or that holds
    an input (a rerun would annotate its own outputs, or overwrite an input)."""
    out_abs = os.path.abspath(out)
    if os.path.exists(out_abs) and not os.path.isdir(out_abs):
        raise ValueError(f'--out {out} is a file; give a folder')
    if os.path.isdir(source):
        source_abs = os.path.abspath(source)
        if out_abs == source_abs or out_abs.startswith(source_abs + os.sep):
            raise ValueError(f'--out {out} lies inside the input folder {source}; choose a '
                             f'folder outside it')
    inside = [i.path for i in inputs if i.kind != 'webcam'
              and os.path.abspath(i.path).startswith(out_abs + os.sep)]
    if inside:
        raise ValueError(f'input {inside[0]} lies inside --out {out}; choose another folder')


def prepare_job(settings: AnnotateSettings) -> tuple[AnnotationJob, str, str]:
    """Validate inputs, vocabulary, formats, options and the output folder -- everything
    before the model is built. Returns ``(job, config path, device)``."""
    formats = parse_formats(settings.formats)
    vocabulary = parse_vocabulary_string(settings.vocab)
    if not vocabulary:
        raise ValueError('--vocab names no class ("cat, dog; puppy")')
    if settings.frame_stride < 1:
        raise ValueError(f'--frame-stride must be >= 1, got {settings.frame_stride}')
    if settings.max_frames is not None and settings.max_frames < 1:
        raise ValueError(f'--max-frames must be >= 1, got {settings.max_frames}')
    if settings.weights and not os.path.isfile(settings.weights):
        raise FileNotFoundError(f'--weights {settings.weights} does not exist')
    inputs = collect_inputs(settings.source)
    check_out_dir(settings.out, settings.source, inputs)
    config, task = resolve_config(settings.config, settings.task)
    if task == 'anomaly' and len(vocabulary) != 1:
        raise ValueError(f'--task anomaly takes one object name in --vocab, got {vocabulary}')
    device = resolve_device(settings.device)
    weights_id = None
    if settings.weights:
        stat = os.stat(settings.weights)
        weights_id = [os.path.abspath(settings.weights), stat.st_size, int(stat.st_mtime)]
    digest = options_hash(dict(
        config=Config.fromfile(config).pretty_text, weights=weights_id, vocabulary=vocabulary,
        task=task, min_area=settings.min_area, score_thr=settings.score_thr,
        anomaly_threshold=settings.anomaly_threshold, seed=settings.seed,
        cfg_options=to_jsonable(settings.cfg_options)))
    job = AnnotationJob(inputs, vocabulary, class_names_of(vocabulary), task, formats,
                        os.path.abspath(settings.out), digest, settings.frame_stride,
                        settings.max_frames, settings.min_area,
                        0.5 if settings.anomaly_threshold is None else settings.anomaly_threshold,
                        settings.overlays)
    return job, config, device


def _report_failure(item: InputItem, error: str) -> None:
    print(f'skipped {item.path}: {error}', file=sys.stderr)


def run_annotation(settings: AnnotateSettings) -> int:
    """Run the command; exit status 0, or 1 when some input could not be read."""
    job, config, device = prepare_job(settings)
    rank, world_size, device = init_launcher(settings.launcher, device)
    with closing_process_group():  # every rank leaves together (issue #33)
        manifest = Manifest(job.out_dir, job.options_digest)
        if rank == 0:
            os.makedirs(job.out_dir, exist_ok=True)
            manifest.remove_temporaries(job.out_dir)
        wait_for_all()
        torch.manual_seed(settings.seed)  # random-init parts are equal in every process
        predictor = build_predictor(config, job.task, settings.weights, device,
                                    job.vocabulary, settings.score_thr,
                                    settings.anomaly_threshold, settings.cfg_options)
        predictor.model.encode_vocabulary(job.vocabulary)  # fails early on a bad vocabulary
        start = time.perf_counter()
        stats = ShardAnnotator(predictor, job, manifest).run(
            shard(job.inputs, rank, world_size), settings.progress and rank == 0,
            _report_failure)
        stats_dir = os.path.join(manifest.root, 'stats')
        atomic_write_json(os.path.join(stats_dir, f'rank{rank}.json'), dict(
            vars(stats), world_size=world_size, seconds=time.perf_counter() - start))
        wait_for_all()
        if rank != 0:
            return 0
        all_stats = [ShardStats(**{k: v for k, v in _read_json(
            os.path.join(stats_dir, f'rank{r}.json')).items() if k in vars(stats)})
            for r in range(world_size)]
        shard_seconds = max(_read_json(os.path.join(stats_dir, f'rank{r}.json'))['seconds']
                            for r in range(world_size))
        summary = merge_outputs(job, manifest)
        summary.update(world_size=world_size, device=device, config=config,
                       shard_seconds=round(shard_seconds, 3))
        path = write_summary(job, summary, all_stats)
        print(f'annotated {summary["images"]} images ({sum(s.annotated for s in all_stats)} '
              f'new, {sum(s.reused for s in all_stats)} reused) into {job.out_dir}; '
              f'summary: {path}')
        if summary['failed']:
            print(f'{len(summary["failed"])} of {len(job.inputs)} inputs could not be read '
                  f'(see {path})', file=sys.stderr)
        return 1 if summary['failed'] else 0


def _read_json(path: str) -> dict:
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)
