"""Evaluate a config: ``python tools/test.py CONFIG [--weights PATH] [--work-dir DIR]``.

Prints the metric table (mIoU, aAcc, per-class IoU for segmentation) and writes
``metrics.json`` into the work dir.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import TYPE_CHECKING

if __package__ in (None, ''):  # running from a source checkout without installing
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

# Only light modules here: --help and argument errors answer before torch and the models load.
from ovperception.utils.cli import (add_runner_arguments, parse_runner_arguments,  # noqa: E402
                                    run_cli)

if TYPE_CHECKING:
    from mmengine.config import Config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate an ovperception config')
    add_runner_arguments(parser, 'test')
    parser.add_argument('--show-dir', help='write prediction overlays here (relative paths go '
                        'under the work dir)')
    parser.add_argument('--max-images', type=int, default=None,
                        help='evaluate only the first N images (smoke runs)')
    return parse_runner_arguments(parser, argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from mmengine.dist import is_main_process

    from ovperception.engine.distributed import distributed_session
    from ovperception.engine.runner_cli import load_config
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg.launcher = args.launcher
    with distributed_session(cfg, args.launcher):  # every rank leaves together
        summary = evaluate(args, cfg)
        if is_main_process():  # every rank gets the gathered metrics; rank 0 reports them
            report(args, cfg, summary)
    return summary


def evaluate(args: argparse.Namespace, cfg: Config) -> dict:
    """Build the runner and run its test loop; the metrics as plain numbers."""
    from ovperception.engine.quiet_runner import build_runner
    from ovperception.models.checkpoint import load_model_state, prepare_config_for_weights
    if args.max_images is not None:
        cfg.test_dataloader.dataset['indices'] = args.max_images
    if args.show_dir:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='ovperception.SegVisualizationHook', show_dir=args.show_dir)]
    state = prepare_config_for_weights(cfg.model, args.weights) if args.weights else None
    runner = build_runner(cfg, args.verbose, args.weights)
    if state is not None:
        load_model_state(getattr(runner.model, 'module', runner.model), state, args.weights)
    metrics = runner.test()
    return {key: float(value) if isinstance(value, (int, float)) else value
            for key, value in metrics.items()}


def report(args: argparse.Namespace, cfg: Config, summary: dict) -> None:
    """Write ``metrics.json`` into the work dir and print the metric table."""
    from ovperception.utils.atomic import atomic_write_json
    out_path = osp.join(cfg.work_dir, 'metrics.json')
    atomic_write_json(out_path, dict(config=args.config, weights=args.weights, metrics=summary,
                                     published=cfg.get('published_metrics')))
    width = max(len(k) for k in summary) if summary else 0
    print('\n'.join(f'{key:<{width}}  {value}' for key, value in summary.items()))
    published = cfg.get('published_metrics')
    if published:
        measured = {k: summary[k] for k in published if k in summary}
        print(f"published: {dict((k, v) for k, v in published.items() if k != 'source')} "
              f"({published.get('source', 'no source given')}); measured here: {measured}")
    print(f'metrics written to {out_path}')


if __name__ == '__main__':
    run_cli(main)
