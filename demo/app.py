"""The interactive web app: upload an image, type a vocabulary, see and download the result.

    python demo/app.py [--config CONFIG] [--weights PATH] [--port 7860] [--device auto]
                       [--sam-checkpoint sam_vit_b_01ec64.pth --sam-model vit_b]
                       [--max-megapixels 40] [--max-session-mb 2048] [--max-upload-mb 50]

Serves http://127.0.0.1:PORT (local only unless --host says otherwise). Every task
(semantic / panoptic segmentation, detection, counting, anomaly) runs on an uploaded image;
``--config`` picks the model its task starts with (a tiny config under configs/tiny makes every
task start with its tiny random model, which runs anywhere). Needs the ``app`` extra
(``pip install -e ".[app]"``).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile

try:  # light modules only: --help answers before torch and the models load
    from ovperception.utils.cli import run_cli
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from ovperception.utils.cli import run_cli
from ovperception.utils.device import DEVICE_CHOICES_HELP, resolve_device

#: Upload size limit (megabytes) unless --max-upload-mb says otherwise.
DEFAULT_MAX_UPLOAD_MB = 50
#: Image size limit (megapixels) unless --max-megapixels says otherwise.
DEFAULT_MAX_MEGAPIXELS = 40.0
#: Disk budget of all sessions (megabytes) unless --max-session-mb says otherwise.
DEFAULT_MAX_SESSION_MB = 2048.0


def positive_float(text: str) -> float:
    """argparse type: a number above zero."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be positive, got {text}')
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=None,
                        help='model config its task starts with (default: each task\'s '
                        'full-size config; a configs/tiny config: tiny models for every task)')
    parser.add_argument('--weights', default=None, help='weights file for the configs')
    parser.add_argument('--device', default='auto', help=DEVICE_CHOICES_HELP)
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to serve on (default: this machine only)')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--sam-checkpoint', default=None,
                        help='SAM weights: enables click / box refinement of masks')
    parser.add_argument('--sam-model', default='vit_b',
                        choices=('vit_b', 'vit_l', 'vit_h', 'tiny'),
                        help='SAM size of --sam-checkpoint (tiny: random test model)')
    parser.add_argument('--max-upload-mb', type=positive_float, default=DEFAULT_MAX_UPLOAD_MB,
                        help='largest upload accepted (megabytes)')
    parser.add_argument('--max-megapixels', type=positive_float, default=DEFAULT_MAX_MEGAPIXELS,
                        help='largest image annotated at full size; larger ones are refused '
                        'with an offer to downscale them to this size')
    parser.add_argument('--max-session-mb', type=positive_float, default=DEFAULT_MAX_SESSION_MB,
                        help='disk budget of all sessions\' files together (least recently '
                        'used sessions are removed first)')
    return parser.parse_args(argv)


def build(args: argparse.Namespace, upload_root: str | None = None):
    """The gradio app for ``args`` (validated before any model is built); per-session folders
    go under ``upload_root`` (default: a new temporary folder)."""
    try:
        from ovperception.webapp.ui import build_app
    except ImportError as error:
        raise RuntimeError(f'the web app needs gradio ({error}); install the extra: '
                           'pip install -e ".[app]"') from None
    from ovperception.webapp.service import AnnotationService
    from ovperception.webapp.tasks import default_configs
    if args.weights and not os.path.isfile(args.weights):
        raise FileNotFoundError(f'--weights {args.weights!r} does not exist')
    if args.sam_checkpoint and not os.path.isfile(args.sam_checkpoint):
        raise FileNotFoundError(f'--sam-checkpoint {args.sam_checkpoint!r} does not exist')
    service = AnnotationService(default_configs(args.config), weights=args.weights,
                                device=resolve_device(args.device),
                                sam_checkpoint=args.sam_checkpoint, sam_model=args.sam_model,
                                max_pixels=int(args.max_megapixels * 1e6))
    return build_app(service, upload_root, max_session_bytes=int(args.max_session_mb * 2**20))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    # a service manager's SIGTERM ends the app like Ctrl-C: temporary files are removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix='ovperception-app-') as root:
        # gradio's own copies of uploads and results live here too, and go with it on exit
        os.environ.setdefault('GRADIO_TEMP_DIR', os.path.join(root, 'gradio'))
        app = build(args, os.path.join(root, 'sessions'))
        try:
            app.queue(default_concurrency_limit=1).launch(
                server_name=args.host, server_port=args.port,
                max_file_size=f'{args.max_upload_mb}mb', show_error=True,
                **app.launch_options)
        finally:
            app.close()
            app.session_store.close_all()
    return 0


if __name__ == '__main__':
    run_cli(main)
