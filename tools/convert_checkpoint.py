"""Convert an official checkpoint into an ovperception state dict, with a strict key report.

    python tools/convert_checkpoint.py FORMAT SRC DST
    python tools/convert_checkpoint.py --list

FORMAT is one of the converters registered by the task packages (``--list`` shows them).
The output is a plain state dict that ``--weights DST`` loads with ``weights_only=True``.
"""
from __future__ import annotations

import argparse
import io
import os
import sys

if __package__ in (None, ''):  # running from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Only light modules here: --help and argument errors answer before torch and the models load.
from ovperception.utils.cli import run_cli  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('format', nargs='?', help='official layout of SRC (see --list)')
    parser.add_argument('src', nargs='?', help='the official checkpoint file')
    parser.add_argument('dst', nargs='?', help='where to write the converted state dict (.pth)')
    parser.add_argument('--list', action='store_true', help='list the known formats and exit')
    args = parser.parse_args(argv)
    if not args.list and not (args.format and args.src and args.dst):
        parser.error('give FORMAT SRC DST (or --list)')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from ovperception.models.checkpoint import read_raw_state_dict
    from ovperception.models.conversion import CONVERTERS, get_converter
    from ovperception.utils.atomic import atomic_write_bytes, ensure_not_input
    if args.list:
        import ovperception.models  # noqa: F401  (registers the converters)
        for name, converter in sorted(CONVERTERS.items()):
            print(f'{name:16s} {converter.description}')
        return 0
    converter = get_converter(args.format)
    ensure_not_input(args.dst, [args.src])
    raw = converter.read(args.src) if converter.read is not None \
        else read_raw_state_dict(args.src)
    if not converter.detect(raw):
        raise ValueError(f'{args.src} is not a {converter.name} checkpoint (its keys do not '
                         f'match the official layout; see --list)')
    state = converter.convert(raw)
    buffer = io.BytesIO()
    torch.save({'state_dict': state}, buffer)
    atomic_write_bytes(args.dst, buffer.getvalue())
    print(f'{args.src} ({converter.name}) -> {args.dst}: {len(state)} tensors')
    return 0


if __name__ == '__main__':
    run_cli(main)
