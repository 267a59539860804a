"""Throughput of ``tools/annotate.py`` on a folder vs the demo's per-image loop.

    python -m ovperception.annotation.benchmark [--images 32] [--size 240x320] \
        [--config configs/tiny/seg_tiny.py] [--min-area 64] [--work-dir DIR] [--rerun]

Writes ``--images`` random JPEGs into four sub-folders, then times, with one model built
once for the demo path and once inside the annotate run:

* the demo path: the loop body of ``demo/image_demo.py`` per image (``set_image``,
  ``predict``, ``write_predictions``: overlay, label PNG, per-image JSON), predict and
  write timed apart;
* annotate: :func:`run_annotation` (one process, all five formats), its summary's
  predict / per-input record writing / merged dataset writing seconds.

With ``--rerun`` it times instead the first annotate run against a rerun with nothing
new (which must build no model and rewrite no dataset), and the model build alone.

Prints one JSON line; wall and process-CPU rates (the CPU rate is steadier on a shared
machine; both paths run with one torch thread).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import cv2
import numpy as np
import torch

from ovperception.annotation.run import AnnotateSettings, run_annotation
from ovperception.apis import OVPredictor, find_images, init_model
from ovperception.writers import write_predictions

VOCABULARY = ['cat', 'dog', 'grass', 'sky']


def make_folder(root: str, count: int, height: int, width: int) -> str:
    rng = np.random.RandomState(0)
    for index in range(count):
        path = os.path.join(root, f'd{index % 4}', f'im{index}.jpg')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, (rng.rand(height, width, 3) * 255).astype(np.uint8))
    return root


def time_demo_loop(config: str, folder: str, out: str) -> dict:
    torch.manual_seed(0)
    predictor = OVPredictor(init_model(config, device='cpu'))
    paths = find_images(folder)
    predictor.set_image(paths[0])
    predictor.predict(VOCABULARY)  # warm-up: text embeddings
    predict = write = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        start = time.perf_counter()
        predictor.set_image(path)
        sample = predictor.predict(VOCABULARY)
        middle = time.perf_counter()
        write_predictions(path, predictor.image, sample, out, paths)
        predict += middle - start
        write += time.perf_counter() - middle
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return dict(img_per_s=len(paths) / wall, img_per_s_cpu=len(paths) / cpu,
                predict_s=round(predict, 3), write_s=round(write, 3))


def time_annotate(config: str, folder: str, out: str, min_area: int) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    run_annotation(AnnotateSettings(source=folder, vocab=', '.join(VOCABULARY), out=out,
                                    config=config, device='cpu', min_area=min_area,
                                    progress=False))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with open(os.path.join(out, 'summary.json'), encoding='utf-8') as handle:
        summary = json.load(handle)
    return dict(img_per_s=summary['images'] / wall, img_per_s_cpu=summary['images'] / cpu,
                predict_s=summary['predict_seconds'],
                record_write_s=summary['record_write_seconds'],
                dataset_write_s=summary['dataset_write_seconds'], objects=summary['objects'])


def time_rerun(config: str, folder: str, out: str, min_area: int) -> dict:
    """Seconds of the first annotate run, of a rerun with nothing new (twice: right after
    the first run, and again), of a rerun with one new image, and of building the model
    alone (warm: after the runs)."""
    settings = AnnotateSettings(source=folder, vocab=', '.join(VOCABULARY), out=out,
                                config=config, device='cpu', min_area=min_area,
                                progress=False)
    times = {}
    for run in ('first_run_s', 'rerun_s', 'rerun_again_s', 'one_new_s'):
        if run == 'one_new_s':  # one more image: one prediction, every dataset rewritten
            cv2.imwrite(os.path.join(folder, 'new.jpg'), np.full((32, 32, 3), 90, np.uint8))
        start = time.perf_counter()
        run_annotation(settings)
        times[run] = round(time.perf_counter() - start, 3)
        with open(os.path.join(out, 'summary.json'), encoding='utf-8') as handle:
            summary = json.load(handle)
        times[run.replace('_s', '_model_built')] = summary['model_built']
        times[run.replace('_s', '_datasets_rewritten')] = summary['datasets_rewritten']
    start = time.perf_counter()
    torch.manual_seed(0)
    init_model(config, device='cpu')
    times['model_build_s'] = round(time.perf_counter() - start, 3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=32)
    parser.add_argument('--size', default='240x320')
    parser.add_argument('--config', default='configs/tiny/seg_tiny.py')
    parser.add_argument('--min-area', type=int, default=64)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--rerun', action='store_true',
                        help='time a rerun with nothing new against the first run')
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split('x'))
    torch.set_num_threads(1)
    root = args.work_dir or tempfile.mkdtemp(prefix='annotate_benchmark_')
    try:
        folder = make_folder(os.path.join(root, 'in'), args.images, height, width)
        if args.rerun:
            print(json.dumps(dict(images=args.images, size=args.size, **time_rerun(
                args.config, folder, os.path.join(root, 'annotate'), args.min_area))))
            return
        demo = time_demo_loop(args.config, folder, os.path.join(root, 'demo'))
        annotate = time_annotate(args.config, folder, os.path.join(root, 'annotate'),
                                 args.min_area)
        print(json.dumps(dict(images=args.images, size=args.size, demo=demo,
                              annotate=annotate)))
    finally:
        if args.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
