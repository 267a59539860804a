"""Train a config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp]``.

Training-free configs (frozen CLIP + parameter-free head) are refused with a
clear message: there is nothing to train, evaluate them with tools/test.py.

Checkpoints and ``last_checkpoint`` are replaced atomically (an interrupt leaves the previous
complete one). ``--resume`` without a path continues from ``last_checkpoint`` (else the
highest ``iter_N.pth``) and stops with one line when the work dir holds none;
``--resume-or-start`` starts from iteration 0 then. Without either, a work dir that already
holds ``iter_N.pth`` files is refused, so that no checkpoint is overwritten silently.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if __package__ in (None, ''):  # running from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Only light modules here: --help and argument errors answer before torch and the models load.
from ovperception.utils.cli import (add_runner_arguments, parse_runner_arguments,  # noqa: E402
                                    run_cli)

if TYPE_CHECKING:
    from mmengine.runner import Runner


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an ovperception config')
    add_runner_arguments(parser, 'train')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from a checkpoint; without a path, from the latest one '
                        'in the work dir')
    parser.add_argument('--resume-or-start', action='store_true',
                        help='resume from the latest checkpoint in the work dir if there is '
                        'one, else start from iteration 0')
    parser.add_argument('--amp', action='store_true', help='mixed precision (GPU)')
    return parse_runner_arguments(parser, argv)


def checkpoint_for(args: argparse.Namespace, work_dir: str) -> str | None:
    """The checkpoint to resume from (None: start at iteration 0); one-line errors when
    ``--resume`` has nothing to resume or a fresh start would overwrite checkpoints."""
    from ovperception.engine.atomic_checkpoint import (NothingToResumeError,
                                                       checkpoint_to_resume, step_checkpoints)
    if args.resume is not None and args.resume_or_start:
        raise ValueError('--resume and --resume-or-start contradict each other: choose one')
    if args.resume not in (None, 'auto'):
        if not os.path.isfile(args.resume):
            raise NothingToResumeError(f'--resume {args.resume}: no such checkpoint file')
        return args.resume
    if args.resume == 'auto':
        return checkpoint_to_resume(work_dir)
    if args.resume_or_start:
        try:
            return checkpoint_to_resume(work_dir)
        except NothingToResumeError:
            return None
    earlier = step_checkpoints(work_dir)
    if earlier:
        raise FileExistsError(
            f'{work_dir} holds checkpoints of an earlier run ({os.path.basename(earlier[-1])}); '
            'pass --resume to continue it, or another --work-dir to start anew')
    return None


def main(argv: list[str] | None = None) -> Runner:
    args = parse_args(argv)
    from ovperception.engine.distributed import distributed_session
    from ovperception.engine.quiet_runner import build_runner
    from ovperception.engine.runner_cli import load_config
    from ovperception.models.checkpoint import load_model_state, prepare_config_for_weights
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg.launcher = args.launcher
    with distributed_session(cfg, args.launcher):  # every rank leaves together
        if 'train_dataloader' not in cfg or 'train_cfg' not in cfg:
            raise ValueError(f'{args.config} has no train_dataloader/train_cfg: it is an '
                             'evaluation-only (training-free) config; use tools/test.py')
        if args.amp:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        resume_from = checkpoint_for(args, cfg.work_dir)
        if resume_from is not None:
            cfg.resume, cfg.load_from = True, resume_from
        state = prepare_config_for_weights(cfg.model, args.weights) if args.weights else None
        runner = build_runner(cfg, args.verbose, args.weights)
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
