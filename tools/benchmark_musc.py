"""Time and peak memory of MuSc's set scoring against the number of images.

MuSc scores every image of a set against all others, so its cost grows with the set: this
tool runs one fresh process per set size (so each peak is its own), with random weights
and synthetic images, and prints a markdown table:

    python tools/benchmark_musc.py --sizes 25 50 100 200 --store memory disk

Default model: a random ViT-B/16-shaped tower of width 256 and 4 blocks at 112 px (a 7x7
grid; ``--width 0`` uses the full architecture). Columns: encode time (backbone passes),
scoring time (aggregation, mutual scoring, RsCIN), peak RSS of the process and its increase over the RSS after the model was built (the
features and scoring buffers; with ``--store disk`` the features live in a temporary file).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[25, 50, 100, 200],
                        help='numbers of images in the set')
    parser.add_argument('--store', nargs='+', choices=['memory', 'disk'], default=['memory'],
                        help='where the features live')
    parser.add_argument('--model', default='ViT-B-16', help='open_clip architecture (random)')
    parser.add_argument('--width', type=int, default=256, help='vision width (0: the model\'s)')
    parser.add_argument('--depth', type=int, default=4, help='vision blocks (with --width)')
    parser.add_argument('--image-size', type=int, default=112, help='square input size')
    parser.add_argument('--layers', type=int, nargs='+', default=[0, 1, 2, 3],
                        help='0-based ViT blocks scored')
    parser.add_argument('--chunk', type=int, default=8, help='images per scoring block')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--one', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.sizes) < 2:
        parser.error('--sizes: MuSc needs at least 2 images per set')
    return args


def peak_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open('/proc/self/statm') as handle:
        return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def run_one(args: argparse.Namespace, store: str) -> dict:
    import time

    import torch

    from ovperception.models.anomaly import MuScModel
    from ovperception.structures import OVDataSample
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kwargs = {} if not args.width else dict(
        embed_dim=128, vision_cfg=dict(image_size=args.image_size, patch_size=16,
                                       width=args.width, layers=args.depth, head_width=64),
        text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=1, layers=1))
    model = MuScModel(dict(type='ovperception.OpenCLIPBackbone', model_name=args.model,
                           pretrained=None, dense_mode='vanilla', model_kwargs=kwargs),
                      feature_layers=args.layers, chunk=args.chunk,
                      feature_store=None if store == 'memory' else 'disk').eval()
    baseline = current_rss_mib()
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    batch = 8
    for start in range(0, args.one, batch):
        count = min(batch, args.one - start)
        images = torch.randn(count, 3, args.image_size, args.image_size, generator=generator)
        samples = [OVDataSample(metainfo=dict(classnames=['part'])) for _ in range(count)]
        model.add_to_set(images, samples)
    encoded = time.perf_counter()
    samples = model.score_sets()
    scored = time.perf_counter()
    assert len(samples) == args.one
    return dict(images=args.one, store=store, encode_s=encoded - started,
                score_s=scored - encoded, peak_mib=peak_rss_mib(),
                increase_mib=peak_rss_mib() - baseline)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args, args.store[0])))
        return 0
    rows = []
    for store in args.store:
        for size in args.sizes:
            command = [sys.executable, os.path.abspath(__file__), '--one', str(size),
                       '--store', store, '--model', args.model, '--width', str(args.width),
                       '--depth', str(args.depth), '--image-size',
                       str(args.image_size), '--chunk', str(args.chunk), '--layers',
                       *map(str, args.layers)]
            if args.threads:
                command += ['--threads', str(args.threads)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # partial results
    print(f'| images | features | encode (s) | scoring (s) | peak RSS (MiB) | '
          f'above the built model (MiB) |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        print(f"| {row['images']} | {row['store']} | {row['encode_s']:.1f} | "
              f"{row['score_s']:.1f} | {row['peak_mib']:.0f} | {row['increase_mib']:.0f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
