"""The whole command: validate everything, annotate this process's shard (building the
model only when some input needs a prediction), wait for the others, merge (rank 0).
``tools/annotate.py`` is its argument parser.

Exit status: 0 every input annotated; :data:`EXIT_PARTIAL` (3) every dataset written but
some inputs could not be read (listed in summary.json; 0 under torchrun, whose launcher
turns any other status into a ``ChildFailedError`` traceback -- ``summary.json``'s
``status`` says ``partial`` there); 1 an error stopped the run (one line, from
``run_cli``); 2 a usage error (argparse); 130 stopped by Ctrl-C / SIGTERM (resumable).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from mmengine.config import Config

from ovperception.annotation.distributed import init_launcher, shard, wait_for_all
from ovperception.annotation.formats import DATASET_FORMATS, ExportOptions, parse_formats
from ovperception.annotation.image_vocabularies import (dataset_vocabulary, image_labels,
                                                        read_tags_file, tags_per_input)
from ovperception.annotation.interrupts import GracefulStop, TermAsInterrupt
from ovperception.annotation.name_choice import NameChooser
from ovperception.models.vocabulary_free.caption_bank import configured_selector
from ovperception.annotation.job import AnnotationJob, ShardAnnotator, ShardStats
from ovperception.annotation.manifest import Manifest, load_flat_names, options_hash
from ovperception.annotation.merge import merge_outputs, write_summary
from ovperception.annotation.model import build_predictor, resolve_config, takes_score_threshold
from ovperception.annotation.progress import RankCounts, ShardProgress
from ovperception.annotation.settings import (EXIT_INTERRUPTED, EXIT_PARTIAL,  # noqa: F401
                                              TASK_OPTIONS, AnnotateSettings)
from ovperception.annotation.sources import InputItem, collect_inputs
from ovperception.apis import OVPredictor
from ovperception.engine.distributed import closing_process_group
from ovperception.models.clip.vocabulary import parse_vocabulary_string
from ovperception.utils.atomic import atomic_write_json, to_jsonable
from ovperception.utils.closed_vocabulary import configured_head_classes, vocabulary_in_head
from ovperception.utils.device import resolve_device


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
    inside = [i.path for i in inputs  # an InputItem's path is absolute already
              if i.kind != 'webcam' and i.path.startswith(out_abs + os.sep)]
    if inside:
        raise ValueError(f'input {inside[0]} lies inside --out {out}; choose another folder')


def check_task_options(settings: AnnotateSettings, task: str,
                       cfg: Config) -> dict[str, Any]:
    """The task-specific options that apply to ``task`` (those given, the others None;
    ``min_area`` as its effective value).

    Raises:
        ValueError: an option was given that does not change this task's predictions
            (it would otherwise be ignored, or force every input to be redone).
    """
    applying = {}
    for name, tasks in TASK_OPTIONS.items():
        value = getattr(settings, name)
        flag = '--' + name.replace('_', '-')
        if value is not None and task not in tasks:
            raise ValueError(f'{flag} applies to --task {" / ".join(tasks)}, not to {task}; '
                             f'leave it out')
        applying[name] = value
    if settings.score_thr is not None and not takes_score_threshold(cfg, task):
        raise ValueError('--score-thr does not apply: the config\'s head has no score '
                         'threshold')
    if settings.min_area is not None and settings.min_area < 1:
        raise ValueError(f'--min-area must be >= 1, got {settings.min_area}')
    if task in TASK_OPTIONS['min_area'] and applying['min_area'] is None:
        applying['min_area'] = 1  # the default, hashed as the value it means
    return applying


def export_options(settings: AnnotateSettings) -> ExportOptions:
    """How the datasets refer to their images (``--copy-images``, ``--image-root``)."""
    if settings.image_base is not None and settings.image_root is None:
        raise ValueError('--image-base needs --image-root (the URL prefix it stands for)')
    base = os.path.abspath(settings.image_base or os.sep)
    if not os.path.isdir(base):
        raise FileNotFoundError(f'--image-base {settings.image_base} is not a folder')
    return ExportOptions(settings.copy_images, settings.image_root, base)


def check_image_base(export: ExportOptions, out: str, inputs: list[InputItem]) -> None:
    """Every image Label Studio will open (the inputs; video frames under OUT) lies under
    ``--image-base``."""
    if export.image_root is None:
        return
    for path in [i.path for i in inputs if i.kind == 'image'] + [os.path.join(out, 'frames')]:
        export.image_url(path)


def prepare_job(settings: AnnotateSettings) -> tuple[AnnotationJob, str, Config, str]:
    """Validate inputs, vocabulary, formats, options and the output folder -- everything
    before the model is built. Returns ``(job, config path, parsed config, device)``: the
    config is parsed once, here, and the model (if any input needs one) built from it."""
    formats = parse_formats(settings.formats)
    vocabulary = parse_vocabulary_string(settings.vocab) if settings.vocab is not None \
        else None
    if vocabulary == []:
        raise ValueError('--vocab names no class ("cat, dog; puppy")')
    if settings.frame_stride < 1:
        raise ValueError(f'--frame-stride must be >= 1, got {settings.frame_stride}')
    if settings.max_frames is not None and settings.max_frames < 1:
        raise ValueError(f'--max-frames must be >= 1, got {settings.max_frames}')
    if settings.weights and not os.path.isfile(settings.weights):
        raise FileNotFoundError(f'--weights {settings.weights} does not exist')
    export = export_options(settings)
    inputs = collect_inputs(settings.source)
    check_out_dir(settings.out, settings.source, inputs)
    check_image_base(export, os.path.abspath(settings.out), inputs)
    config, task, cfg = resolve_config(settings.config, settings.task)
    task_options = check_task_options(settings, task, cfg)
    if task == 'anomaly' and vocabulary is not None and len(vocabulary) != 1:
        raise ValueError(f'--task anomaly takes one object name in --vocab, got {vocabulary}')
    device = resolve_device(settings.device)
    head_classes = configured_head_classes(cfg, settings.cfg_options)
    if head_classes is not None and vocabulary is None and settings.tags_from is None:
        vocabulary = head_classes  # a closed-vocabulary model: the classes it was trained on
    vocabulary, labels, prebuilt = per_image_vocabularies(settings, inputs, vocabulary, task,
                                                          cfg, config, device)
    if head_classes is not None:
        check_within_head(vocabulary, head_classes, settings)
    weights_id = None
    if settings.weights:
        stat = os.stat(settings.weights)
        weights_id = [os.path.abspath(settings.weights), stat.st_size, int(stat.st_mtime)]
    # only what changes this task's predictions: an option of another task is refused
    # above, never hashed. The config as sorted JSON (pretty_text runs a code formatter,
    # half of a rerun's time on 300 tiny images)
    digest = options_hash(dict(
        config=json.dumps(cfg.to_dict(), sort_keys=True, default=repr), weights=weights_id,
        vocabulary=vocabulary, image_labels=labels, task=task, seed=settings.seed,
        cfg_options=to_jsonable(settings.cfg_options),
        **{k: v for k, v in task_options.items() if task in TASK_OPTIONS[k]}))
    recorded_stems, recorded_videos = load_flat_names(settings.out)
    min_area = task_options['min_area'] or 1
    anomaly_threshold = 0.5 if settings.anomaly_threshold is None else \
        settings.anomaly_threshold
    job = AnnotationJob(inputs, vocabulary, class_names_of(vocabulary), task, formats,
                        os.path.abspath(settings.out), digest, settings.frame_stride,
                        settings.max_frames, min_area, anomaly_threshold, settings.overlays,
                        export, recorded_stems=recorded_stems,
                        recorded_videos=recorded_videos, image_labels=labels,
                        prebuilt_predictor=prebuilt)
    return job, config, cfg, device


def check_within_head(vocabulary: list[str], head_classes: list[str],
                      settings: AnnotateSettings) -> None:
    """ValueError (one line, before any model is built) unless every class of the dataset
    vocabulary (``--vocab``, or the union of the ``--tags-from`` tags) is one of the trained
    ``head_classes`` of a closed-vocabulary config."""
    try:
        vocabulary_in_head(vocabulary, head_classes)
    except ValueError as error:
        source = '--vocab' if settings.vocab is not None or settings.tags_from is None \
            else f'--tags-from {settings.tags_from}'
        raise ValueError(f'{source}: {error}') from None


def per_image_vocabularies(settings: AnnotateSettings, inputs: list[InputItem],
                           vocabulary: list[str] | None, task: str, cfg: Config, config: str,
                           device: str
                           ) -> tuple[list[str], dict[str, list[int]] | None,
                                      OVPredictor | None]:
    """The dataset vocabulary, each image's vocabulary indices (None: all images use it)
    and, for a vocabulary-free run, the predictor that chose the names.

    ``--tags-from`` restricts each image to its tags; with neither ``--vocab`` nor
    ``--tags-from``, a vocabulary-free config (``model.vocabulary_selector``) chooses each
    image's names (stored in ``OUT/chosen_names.json``, reused by a rerun).
    """
    if settings.tags_from is None and vocabulary is not None:
        return vocabulary, None, None
    if task not in ('seg', 'det'):
        raise ValueError(f'per-image vocabularies (--tags-from, no --vocab) apply to --task '
                         f'seg or det, not {task}')
    prebuilt = None
    if settings.tags_from is not None:
        tags = tags_per_input(read_tags_file(settings.tags_from), inputs, settings.source)
    else:
        if not configured_selector(cfg, settings.cfg_options):  # the parsed config, once
            raise ValueError(f'--vocab or --tags-from is required: {config} chooses no '
                             'vocabulary itself (use a vocabulary-free config such as '
                             'configs/tiny/seg_tiny_cased.py)')
        if settings.launcher != 'none':
            raise ValueError('a vocabulary-free run chooses names in one process: run it '
                             'without --launcher, or pass the chosen names with --tags-from')
        chooser = NameChooser(settings, config, cfg, device)
        tags = chooser.choose(inputs)
        prebuilt = chooser.predictor
    vocabulary, tag_index = dataset_vocabulary(tags.values(), vocabulary)
    return vocabulary, image_labels(tags, tag_index), prebuilt


def _plural(count: int, word: str) -> str:
    return f'{count} {word}' + ('' if count == 1 else 's')


def _predictor_factory(settings: AnnotateSettings, job: AnnotationJob, cfg: Config,
                       device: str) -> Callable[[], OVPredictor]:
    """What builds the predictor when the first input needs one (never on a rerun with
    nothing new)."""
    def build() -> OVPredictor:
        if job.prebuilt_predictor is not None:  # vocabulary-free: built to choose the names
            return job.prebuilt_predictor
        torch.manual_seed(settings.seed)  # random-init parts are equal in every process
        predictor = build_predictor(cfg, job.task, settings.weights, device,
                                    job.vocabulary, settings.score_thr,
                                    settings.anomaly_threshold, settings.cfg_options)
        predictor.model.encode_vocabulary(job.vocabulary)  # fails early on a bad vocabulary
        return predictor
    return build


def run_annotation(settings: AnnotateSettings) -> int:
    """Run the command; the exit status (module docstring). Ctrl-C / SIGTERM: the input in
    flight is finished and stored, then ``KeyboardInterrupt`` is raised."""
    with TermAsInterrupt():
        job, config, cfg, device = prepare_job(settings)
        rank, world_size, device = init_launcher(settings.launcher, device)
        with closing_process_group():  # every rank leaves together (docs/robustness.md)
            return _run(settings, job, config, cfg, device, rank, world_size)


def _run(settings: AnnotateSettings, job: AnnotationJob, config: str, cfg: Config,
         device: str, rank: int, world_size: int) -> int:
    manifest = Manifest(job.out_dir, job.options_digest)
    counts_dir = os.path.join(manifest.root, 'progress')
    if rank == 0:
        os.makedirs(job.out_dir, exist_ok=True)
        manifest.remove_temporaries(job.out_dir, DATASET_FORMATS)
        if world_size > 1:
            RankCounts.clear(counts_dir)
    wait_for_all()
    start = time.perf_counter()
    items = shard(job.inputs, rank, world_size)
    counts = RankCounts(counts_dir, rank, world_size) if world_size > 1 else None
    # rank 0 shows every rank's progress, until all have finished (the barrier below)
    with ShardProgress(len(items), len(job.inputs), bar=settings.progress,
                       quiet=rank != 0, counts=counts) as progress:
        with GracefulStop() as stop:
            stats = ShardAnnotator(_predictor_factory(settings, job, cfg, device), job,
                                   manifest, lambda: stop.requested).run(
                items, progress,
                lambda item, error: progress.note(f'skipped {item.path}: {error}'))
        manifest.index.save_hashed(rank)
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
    summary = merge_outputs(job, manifest, world_size)
    failed = len(summary['failed'])
    summary.update(world_size=world_size, device=device, config=config,
                   shard_seconds=round(shard_seconds, 3),
                   status='partial' if failed else 'complete')
    path = write_summary(job, summary, all_stats)
    print(f'annotated {_plural(summary["images"], "image")} '
          f'({sum(s.annotated for s in all_stats)} new, '
          f'{sum(s.reused for s in all_stats)} reused) into {job.out_dir}; summary: {path}')
    if summary['formats_of_earlier_runs']:
        print(f'also kept up to date: {", ".join(summary["formats_of_earlier_runs"])} '
              f'(written by an earlier run into {job.out_dir}; delete a folder to drop it)')
    if not failed:
        return 0
    status = 0 if settings.launcher != 'none' else EXIT_PARTIAL
    print(f'partial: {failed} of {_plural(len(job.inputs), "input")} could not be read '
          f'(listed in {path}); every dataset holds the others; exit status {status}',
          file=sys.stderr)
    return status


def _read_json(path: str) -> dict:
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)
