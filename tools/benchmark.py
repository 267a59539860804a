"""Inference benchmark: ``python tools/benchmark.py CONFIG [--size 336x448] [--vocab-size 150]``.

Any task's config (segmentation incl. refiners and Trident, FC-CLIP, anomaly, counting,
detection). Builds the model with ``ovperception.apis.init_model``, feeds N random images of
each size with a vocabulary of K synthetic names, and reports throughput,
per-image latency percentiles, the backbone / head / refiner split, the
text-encoding cost (cold vs cached), peak memory and the ratio to a plain
backbone forward over the same crops (the floor). Writes ``benchmark.json`` and
``benchmark.md`` into ``--out`` and prints the markdown. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import TYPE_CHECKING

if __package__ in (None, ''):  # running from a source checkout without installing
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

# Only light modules here: --help and argument errors answer before torch and the models load.
from ovperception.utils.cli import LazyDictAction, parse_size  # noqa: E402

if TYPE_CHECKING:
    import torch


def _split(values: list[str] | None, default: str) -> list[str]:
    """Repeated options, each possibly a comma list, flattened."""
    return [item.strip() for value in (values or [default]) for item in value.split(',')
            if item.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark inference of an ovperception config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--weights', help='checkpoint or open_clip state dict (as tools/test.py)')
    parser.add_argument('--images', type=int, default=10, help='timed images per case')
    parser.add_argument('--batch-size', type=int, default=1, help='images per test step')
    parser.add_argument('--size', action='append', metavar='HxW',
                        help='image size; repeat or comma-separate for a sweep (default 336x448)')
    parser.add_argument('--vocab-size', action='append', metavar='K',
                        help='vocabulary size; repeat or comma-separate (default 150)')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps per case')
    parser.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none',
                        help='backbone under torch.autocast (sets model.test_cfg.amp_dtype)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the backbone (sets model.test_cfg.compile)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last crops and conv weights (sets '
                             'model.test_cfg.channels_last)')
    parser.add_argument('--threads', type=int, help='torch CPU threads (default: torch default)')
    parser.add_argument('--label-scale', type=float, default=1.0,
                        help='labels at this multiple of the input size (ori_shape); the '
                             'ADE20K protocol (512 -> 336 short side) is about 1.52')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic images')
    parser.add_argument('--runtime', choices=['torch', 'onnx', 'openvino'], default='torch',
                        help='onnx / openvino: export the dense path for each synthetic '
                             'vocabulary (tools/export_onnx.py) and time it with onnxruntime / '
                             'OpenVINO (float32) inside the same windows and stitching; the '
                             'floor stays the PyTorch backbone')
    parser.add_argument('--quantize', choices=['none', 'int8', 'int8-static'], default='none',
                        help='--runtime onnx / openvino: export with dynamic int8 weights '
                             '(int8) or static int8 calibrated on structured images, the last '
                             'block (dense attention) and head in float (int8-static)')
    parser.add_argument('--out', help='output folder (default work_dirs/benchmark/CONFIG_NAME)')
    parser.add_argument('--cfg-options', nargs='+', action=LazyDictAction,
                        help='override config keys, e.g. model.backbone.pretrained=None')
    args = parser.parse_args(argv)
    try:
        args.sizes = [parse_size(s) for s in _split(args.size, '336x448')]
        args.vocab_sizes = [int(k) for k in _split(args.vocab_size, '150')]
    except (argparse.ArgumentTypeError, ValueError) as error:
        parser.error(str(error))
    if min(args.vocab_sizes) < 1:
        parser.error('--vocab-size must be >= 1')
    if args.label_scale <= 0:
        parser.error('--label-scale must be positive')
    if args.quantize != 'none' and args.runtime == 'torch':
        parser.error('--quantize applies to --runtime onnx / openvino')
    if args.runtime != 'torch' and (args.device != 'cpu' or args.amp != 'none' or args.compile):
        parser.error(f'--runtime {args.runtime} runs on the CPU in float32: drop '
                     '--device/--amp/--compile')
    return args


def run_onnx_benchmark(model: torch.nn.Module, args: argparse.Namespace, timing: dict) -> dict:
    """``run_benchmark`` of the ONNX export of ``model`` for each synthetic vocabulary
    (exported to ``--out``/onnx/), run by ``--runtime`` (onnxruntime or OpenVINO), with
    ``model``'s PyTorch backbone as the floor."""
    from ovperception.benchmarking import run_benchmark
    from ovperception.benchmarking.runner import benchmark_vocabulary
    from ovperception.deploy import ONNXDenseModel, export_onnx
    merged: dict = dict(text=[], results=[])
    folder = osp.join(output_dir(args), 'onnx')
    for vocab_size in args.vocab_sizes:
        path = export_onnx(model, benchmark_vocabulary(model, vocab_size),
                           osp.join(folder, f'vocab{vocab_size}.onnx'), quantize=args.quantize)
        onnx_model = ONNXDenseModel(path, runtime=args.runtime, threads=args.threads,
                                    floor_backbone=model.backbone)
        measured = run_benchmark(onnx_model, args.sizes, [vocab_size], **timing,
                                 measure_text_cost=False)  # the text is in the graph
        merged['results'] += measured['results']
    return merged


def output_dir(args: argparse.Namespace) -> str:
    """``--out`` or work_dirs/benchmark/CONFIG_NAME."""
    return args.out or osp.join('work_dirs', 'benchmark',
                                osp.splitext(osp.basename(args.config))[0])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    from ovperception.apis import init_model
    from ovperception.benchmarking import markdown_report, run_benchmark, write_report
    from ovperception.benchmarking.adapters import (NotBenchmarkableError, check_benchmarkable,
                                                    floor_method)
    from ovperception.benchmarking.report import environment
    if args.threads:
        torch.set_num_threads(args.threads)
    options = dict(args.cfg_options or {})
    if args.amp != 'none':
        options['model.test_cfg.amp_dtype'] = args.amp
    if args.compile:
        options['model.test_cfg.compile'] = True
    if args.channels_last:
        options['model.test_cfg.channels_last'] = True
    model = init_model(args.config, args.weights, args.device, cfg_options=options)
    try:
        check_benchmarkable(model)
    except NotBenchmarkableError as error:
        raise SystemExit(f'{args.config}: {error}') from None
    timing = dict(num_images=args.images, batch_size=args.batch_size, warmup=args.warmup,
                  device=args.device, seed=args.seed, label_scale=args.label_scale)
    if args.runtime != 'torch':
        measured = run_onnx_benchmark(model, args, timing)
    else:
        measured = run_benchmark(model, args.sizes, args.vocab_sizes, **timing)
    backbone = model.backbone
    report = dict(
        meta=dict(config=args.config, model=type(model).__name__, weights=args.weights,
                  images=args.images,
                  label_scale=args.label_scale,
                  batch_size=args.batch_size, warmup=args.warmup,
                  amp=None if args.amp == 'none' else args.amp, compile=args.compile,
                  runtime=args.runtime, quantize=args.quantize,
                  channels_last=args.channels_last,
                  cfg_options=options, test_cfg=dict(getattr(model, 'test_cfg', None) or {}),
                  template_set=getattr(model, 'template_set', None) or getattr(
                      getattr(model, 'head', None), 'template_set', None),
                  backbone=dict(model_name=getattr(backbone, 'model_name', None),
                                dense_mode=getattr(backbone, 'dense_mode', None),
                                weights_id=getattr(backbone, 'weights_id', None)),
                  floor=f'backbone.{floor_method(model)} (eager)',
                  memory_method=measured['results'][0]['memory']['method']),
        environment=environment(args.device), **measured)
    write_report(report, output_dir(args))
    print(markdown_report(report))
    return report


if __name__ == '__main__':
    main()
