"""Peak memory and time of one web-app run (prediction, downloads, COCO dataset) on a large
image: the bounded region extraction's benchmark (docs/benchmarks.md, "Large images").

    python tools/benchmark_large_image.py IMAGE [--config configs/tiny/seg_tiny.py]
        [--vocab "red, green, blue, ..."] [--task semantic] [--max-megapixels 40]

Prints wall time, CPU time, peak RSS (Linux ``ru_maxrss``) and the number of regions written.
"""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image')
    parser.add_argument('--config', default='configs/tiny/seg_tiny.py')
    parser.add_argument('--vocab', default='red, green, blue, yellow, cyan, magenta, grey')
    parser.add_argument('--task', default='semantic')
    parser.add_argument('--max-megapixels', type=float, default=40.0)
    args = parser.parse_args(argv)
    if not os.path.isfile(args.image):
        parser.error(f'image {args.image!r} does not exist')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import json
    import resource
    import tempfile
    import time

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from ovperception.webapp import AnnotationService, AppSession
    from ovperception.webapp.tasks import default_configs

    service = AnnotationService(default_configs(args.config),
                                max_pixels=int(args.max_megapixels * 1e6))
    with tempfile.TemporaryDirectory() as root:
        session = AppSession.create(root)
        service.model(service.defaults[args.task])
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = service.run(session, args.image, args.vocab, args.task, formats=['coco'])
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        coco = os.path.join(os.path.dirname(result.overlay), 'datasets', 'coco',
                            'annotations.json')
        with open(coco) as handle:
            regions = len(json.load(handle)['annotations'])
        session.close()
    print(f'wall {wall:.1f} s | CPU {cpu:.1f} s | peak RSS {peak_gb:.2f} GB | '
          f'{regions} regions | {result.message}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
