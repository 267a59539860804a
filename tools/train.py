"""Train a config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp]``.

Training-free configs (frozen CLIP + parameter-free head) are refused with a
clear message: there is nothing to train, evaluate them with tools/test.py.
"""
from __future__ import annotations

import argparse

from mmengine.runner import Runner

from ovperception.models.checkpoint import load_model_state, prepare_config_for_weights
from ovperception.engine.runner_cli import (add_runner_arguments, load_config,
                                       parse_runner_arguments, run_cli)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an ovperception config')
    add_runner_arguments(parser, 'train')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from a checkpoint; without a path, from the latest one '
                        'in the work dir')
    parser.add_argument('--amp', action='store_true', help='mixed precision (GPU)')
    return parse_runner_arguments(parser, argv)


def main(argv: list[str] | None = None) -> Runner:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg.launcher = args.launcher
    if 'train_dataloader' not in cfg or 'train_cfg' not in cfg:
        raise ValueError(f'{args.config} has no train_dataloader/train_cfg: it is an '
                         'evaluation-only (training-free) config; use tools/test.py')
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    state = prepare_config_for_weights(cfg.model, args.weights) if args.weights else None
    runner = Runner.from_cfg(cfg)
    model = getattr(runner.model, 'module', runner.model)
    if not model.is_trainable:
        raise RuntimeError(f'{args.config} builds a training-free model (no trainable '
                           'parameters); evaluate it with tools/test.py instead')
    if state is not None:
        load_model_state(model, state, args.weights)
    runner.train()
    return runner


if __name__ == '__main__':
    run_cli(main)
