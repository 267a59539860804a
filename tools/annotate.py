r"""Auto-annotate images, folders, list files, videos or a webcam into labelled datasets.

    python tools/annotate.py SOURCE --vocab "cat, dog; puppy" --out DIR \
        [--config CONFIG] [--weights PATH] [--task seg|det|panoptic|count|anomaly] \
        [--format coco,yolo,voc,labelstudio,cvat] [--device auto] [--overlays] \
        [--frame-stride N] [--max-frames N] [--copy-images] [--image-root URL] \
        [--launcher pytorch]

SOURCE is an image, a folder (walked recursively for images and videos; outputs mirror
the relative paths, so equal file names never collide), a list file (.txt, one path per
line), a video file, or a webcam index (0). DIR receives one merged dataset per format
(coco/, yolo/, voc/, labelstudio/, cvat/), frames/ and videos/*.overlay.mp4 for videos,
overlays/ with --overlays, and summary.json (counts, timings, unreadable inputs).

Rerunning the same command resumes: inputs already annotated with the same content and
options are skipped (a rerun with nothing new builds no model and rewrites no dataset).
Ctrl-C or SIGTERM finishes the input in flight, keeps it, and exits with status 130 (a
second Ctrl-C stops at once); rerun to resume. Under torchrun (--launcher pytorch) the
inputs are sharded over the processes and rank 0 merges:

    torchrun --nproc_per_node 4 tools/annotate.py SOURCE --vocab ... --out DIR --launcher pytorch

Exit status: 0 every input annotated; 3 every dataset written, but some inputs could not
be read (listed in summary.json; under torchrun 0, with summary.json "status": "partial");
1 an error stopped the run; 2 bad arguments; 130 interrupted. See docs/annotation.md.
"""
from __future__ import annotations

import argparse
import os
import sys

from ovperception.annotation.settings import (EXIT_INTERRUPTED, FORMAT_NAMES, LAUNCHERS, TASKS,
                                              AnnotateSettings)
from ovperception.utils.cli import LazyDictAction as DictAction
from ovperception.utils.cli import run_cli
from ovperception.utils.device import DEVICE_CHOICES_HELP


def parse_args(argv: list[str] | None = None) -> AnnotateSettings:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', help='image, folder, list file, video or webcam index')
    parser.add_argument('--vocab', default=None,
                        help='classes separated by ",", synonyms by ";" ("cat, dog; puppy"); '
                        'leave it out with --tags-from (the tags form the vocabulary) or with '
                        'a vocabulary-free config (configs/tiny/seg_tiny_cased.py, '
                        'configs/segmentation/dense_cased_*): names chosen per image, listed '
                        'with their scores in OUT/chosen_names.json; or with a closed-'
                        'vocabulary config (a trained ExCEL: model.seg_head + head_classes): '
                        'its trained classes, which --vocab and the tags must be among')
    parser.add_argument('--tags-from', default=None, metavar='FILE',
                        help='CSV (columns image, tags) or JSON ({"a.jpg": ["cat", "dog"]}) '
                        'of the classes known to be in each image: each image is segmented '
                        'with its tags only (seg / det); see docs/annotation.md')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--config', default=None,
                        help='model config (default: the --task\'s default config)')
    parser.add_argument('--weights', default=None, help='weights file for the config')
    parser.add_argument('--task', choices=TASKS, default=None,
                        help='what to annotate (default: what the config does)')
    parser.add_argument('--format', dest='formats', default=','.join(FORMAT_NAMES),
                        metavar='FORMATS',
                        help=f'comma-separated dataset formats (default: all, '
                             f'{",".join(FORMAT_NAMES)})')
    parser.add_argument('--device', default='auto', help=DEVICE_CHOICES_HELP)
    parser.add_argument('--frame-stride', type=int, default=1, metavar='N',
                        help='videos: annotate every N-th frame (default: 1, every frame)')
    parser.add_argument('--max-frames', type=int, default=None, metavar='N',
                        help='videos / webcam: annotate at most N frames each (default: all; '
                             'a webcam runs until Ctrl-C)')
    parser.add_argument('--min-area', type=int, default=None, metavar='PIXELS',
                        help='seg / anomaly only: drop regions smaller than this many pixels '
                             '(default: 1, keep every region)')
    parser.add_argument('--score-thr', type=float, default=None, metavar='SCORE',
                        help='det / count only: drop detections scoring below this (default: '
                             'the config\'s head score_threshold)')
    parser.add_argument('--anomaly-threshold', type=float, default=None, metavar='VALUE',
                        help='anomaly only: map value from which a pixel is anomalous '
                             '(default: the model\'s calibrated threshold, else 0.5)')
    parser.add_argument('--overlays', action='store_true',
                        help='also write overlays/<image>.png for every image (drawn for '
                             'finished images too, without the model)')
    parser.add_argument('--copy-images', action='store_true',
                        help='YOLO images/ and VOC JPEGImages/ hold copies of the images, '
                             'so the dataset folders can be moved alone (default: relative '
                             'symlinks to the inputs)')
    parser.add_argument('--image-root', default=None, metavar='URL',
                        help='Label Studio data.image = URL + the image path relative to '
                             '--image-base, e.g. "/data/local-files/?d=" or '
                             '"http://localhost:8081/" (default: absolute local paths)')
    parser.add_argument('--image-base', default=None, metavar='DIR',
                        help='the folder --image-root stands for (default: /)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='pytorch: shard over the processes torchrun started '
                             '(default: none, one process)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed for randomly initialised model parts (tiny configs; '
                             'default: 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='override config keys')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar: one line per 10%% of the inputs instead')
    args = parser.parse_args(argv)
    return AnnotateSettings(
        source=args.source, vocab=args.vocab, out=args.out, config=args.config,
        weights=args.weights, task=args.task, formats=args.formats, device=args.device,
        frame_stride=args.frame_stride, max_frames=args.max_frames, min_area=args.min_area,
        score_thr=args.score_thr, anomaly_threshold=args.anomaly_threshold,
        overlays=args.overlays, copy_images=args.copy_images, image_root=args.image_root,
        image_base=args.image_base, launcher=args.launcher, seed=args.seed,
        cfg_options=dict(args.cfg_options or {}), progress=not args.no_progress,
        tags_from=args.tags_from)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    if settings.config and os.path.isfile(settings.config):  # closed vocabulary, before torch
        from ovperception.utils.closed_vocabulary import check_command_vocabulary
        check_command_vocabulary(settings.config, settings.cfg_options, settings.vocab)
    from ovperception.annotation.run import run_annotation
    try:
        return run_annotation(settings)
    except KeyboardInterrupt:
        print('interrupted: finished inputs are kept in the manifest; rerun the same command '
              'to resume', file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == '__main__':
    run_cli(main)
