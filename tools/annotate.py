"""Auto-annotate images, folders, list files, videos or a webcam into labelled datasets.

    python tools/annotate.py SOURCE --vocab "cat, dog; puppy" --out DIR \
        [--config CONFIG] [--weights PATH] [--task seg|det|panoptic|count|anomaly] \
        [--format coco,yolo,voc,labelstudio,cvat] [--device auto] [--overlays] \
        [--frame-stride N] [--max-frames N] [--launcher pytorch]

SOURCE is an image, a folder (walked recursively for images and videos; outputs mirror
the relative paths, so equal file names never collide), a list file (.txt, one path per
line), a video file, or a webcam index (0). DIR receives one merged dataset per format
(coco/, yolo/, voc/, labelstudio/, cvat/), frames/ and videos/*.overlay.mp4 for videos,
overlays/ with --overlays, and summary.json (counts, timings, unreadable inputs).

Rerunning the same command resumes: inputs already annotated with the same content and
options are skipped. Ctrl-C stops after the input in flight (exit status 130). Under
torchrun (--launcher pytorch) the inputs are sharded over the processes and rank 0 merges:

    torchrun --nproc_per_node 4 tools/annotate.py SOURCE --vocab ... --out DIR --launcher pytorch

The exit status is 1 when some input could not be read (listed in summary.json).
See docs/annotation.md.
"""
from __future__ import annotations

import argparse
import sys

from ovperception.annotation.distributed import LAUNCHERS
from ovperception.annotation.formats import DATASET_FORMATS
from ovperception.annotation.predictions import TASKS
from ovperception.annotation.run import AnnotateSettings
from ovperception.utils.cli import LazyDictAction as DictAction
from ovperception.utils.cli import run_cli
from ovperception.utils.device import DEVICE_CHOICES_HELP


def parse_args(argv: list[str] | None = None) -> AnnotateSettings:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', help='image, folder, list file, video or webcam index')
    parser.add_argument('--vocab', required=True,
                        help='classes separated by ",", synonyms by ";" ("cat, dog; puppy")')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--config', default=None,
                        help='model config (default: the --task\'s default config)')
    parser.add_argument('--weights', default=None, help='weights file for the config')
    parser.add_argument('--task', choices=TASKS, default=None,
                        help='what to annotate (default: what the config does)')
    parser.add_argument('--format', dest='formats', default=','.join(DATASET_FORMATS),
                        help=f'comma-separated dataset formats: {", ".join(DATASET_FORMATS)}')
    parser.add_argument('--device', default='auto', help=DEVICE_CHOICES_HELP)
    parser.add_argument('--frame-stride', type=int, default=1,
                        help='videos: annotate every N-th frame')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='videos / webcam: annotate at most N frames each')
    parser.add_argument('--min-area', type=int, default=1,
                        help='seg / anomaly: drop regions smaller than this many pixels')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='detection: drop detections scoring below this')
    parser.add_argument('--anomaly-threshold', type=float, default=None,
                        help='anomaly: map value from which a pixel is anomalous (0.5)')
    parser.add_argument('--overlays', action='store_true',
                        help='also write overlays/<image>.png for every image')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='pytorch: shard over the processes torchrun started')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed for randomly initialised model parts (tiny configs)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    return AnnotateSettings(
        source=args.source, vocab=args.vocab, out=args.out, config=args.config,
        weights=args.weights, task=args.task, formats=args.formats, device=args.device,
        frame_stride=args.frame_stride, max_frames=args.max_frames, min_area=args.min_area,
        score_thr=args.score_thr, anomaly_threshold=args.anomaly_threshold,
        overlays=args.overlays, launcher=args.launcher, seed=args.seed,
        cfg_options=dict(args.cfg_options or {}), progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    from ovperception.annotation.run import run_annotation
    try:
        return run_annotation(settings)
    except KeyboardInterrupt:
        print('interrupted: finished inputs are kept in the manifest; rerun the same command '
              'to resume', file=sys.stderr)
        return 130


if __name__ == '__main__':
    run_cli(main)
