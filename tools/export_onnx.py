"""Export a config's dense path with a fixed vocabulary to ONNX (CPU / edge deployment).

    python tools/export_onnx.py CONFIG --vocab "cat, dog; puppy, grass" --out model.onnx \
        [--size HxW] [--weights PATH] [--template-set imagenet80] [--cfg-options K=V ...]
        [--quantize none|int8|int8-static] [--check IMAGE_COUNT] [--runtime onnx|openvino]
        [--check-images random|structured]

The graph takes normalised (n, 3, H, W) crops (H x W = --size, default the config's
test_cfg.crop_size; any n) and returns the head's dense output (n, names, h, w); the
vocabulary's text embeddings are constants in it. Run it with
``ovperception.deploy.ONNXDenseModel(path)``, which keeps the config's sliding windows,
stitching and post-processing. Exportable: OVModel configs whose head needs only features and
text (training-free segmentation: MaskCLIP, SCLIP, ClearCLIP, NACLIP, ProxyCLIP; the adapted
head; blockwise counting); PAMR (parameter-free) runs in PyTorch after the graph. --check N runs N random (or structured) images
through both PyTorch and the runtime (onnxruntime, or OpenVINO with ``--runtime openvino``)
and prints the label agreement. Needs ``pip install 'ovperception[onnx]'`` (``[openvino]``).
"""
from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ''):  # running from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Only light modules here: --help and argument errors answer before torch and the models load.
from ovperception.utils.cli import LazyDictAction, parse_size, run_cli  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='model config')
    parser.add_argument('--vocab', required=True,
                        help='classes separated by ",", synonyms by ";" ("cat, dog; puppy")')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--size', type=parse_size, default=None, metavar='HxW',
                        help='crop size of the graph (default: the config\'s crop_size)')
    parser.add_argument('--weights', help='CLIP weights file or ovperception checkpoint')
    parser.add_argument('--template-set', default=None, help="'single', 'imagenet80', ...")
    parser.add_argument('--cfg-options', nargs='+', action=LazyDictAction,
                        help='override config keys')
    parser.add_argument('--quantize', choices=['none', 'int8', 'int8-static'], default='none',
                        help='int8: dynamic int8 weights; int8-static: int8 weights and '
                             'activations calibrated on structured images, the last block '
                             '(dense attention) and the head in float (faster on CPUs; '
                             'labels are no longer identical to PyTorch, see '
                             'docs/benchmarks.md)')
    parser.add_argument('--check', type=int, default=0, metavar='N',
                        help='compare labels with PyTorch on N images and print the agreement')
    parser.add_argument('--check-images', choices=['random', 'structured'], default='random',
                        help='--check on uniform noise or on structured images (regions, '
                             'edges, gradients; default random)')
    parser.add_argument('--runtime', choices=['onnx', 'openvino'], default='onnx',
                        help='runtime of --check: onnxruntime or OpenVINO (float32)')
    args = parser.parse_args(argv)
    if not args.out.endswith('.onnx'):
        parser.error('--out must name a .onnx file')
    if args.check < 0:
        parser.error('--check must be >= 0')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ovperception.apis import init_model
    from ovperception.deploy import export_onnx
    from ovperception.deploy.parity import label_agreement
    from ovperception.models.clip.vocabulary import parse_vocabulary_string
    vocabulary = parse_vocabulary_string(args.vocab)
    options = dict(args.cfg_options or {})
    if args.template_set:
        options['model.template_set'] = args.template_set
    model = init_model(args.config, args.weights, 'cpu', cfg_options=options)
    export_onnx(model, vocabulary, args.out, args.size, quantize=args.quantize)
    print(f'wrote {args.out} ({os.path.getsize(args.out) / 2 ** 20:.1f} MiB)')
    if args.check:
        agreement = label_agreement(model, args.out, vocabulary, num_images=args.check,
                                    runtime=args.runtime, images=args.check_images)
        print(f'label agreement with PyTorch ({args.runtime}) on {args.check} '
              f'{args.check_images} images: {100 * agreement:.3f}%')
    return 0


if __name__ == '__main__':
    run_cli(main)
