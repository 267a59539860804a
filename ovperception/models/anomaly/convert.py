"""Converter of AnomalyCLIP's released prompt checkpoints (``checkpoints/*/epoch_15.pth``).

The official file is ``{'prompt_learner': AnomalyCLIP_PromptLearner.state_dict()}``:

* ``ctx_pos`` / ``ctx_neg`` (1, 1, n_ctx, width): the learnable context of the normal and
  the anomalous prompt -> ``head.normal_ctx`` / ``head.anomalous_ctx`` (n_ctx, width);
* ``compound_prompts_text.{i}`` (t, width): deep prompts of text blocks i + 1 ->
  ``head.deep_prompts`` (depth - 1, t, width);
* constants the head rebuilds from the tokenizer and CLIP's token embeddings
  (``token_prefix_*``, ``token_suffix_*``, ``tokenized_prompts_*``) and
  ``compound_prompt_projections.*`` (linear layers the released forward never calls) are
  read and dropped; any other key is an error naming it.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import CheckpointConverter, StateDict, register_converter

CHECKPOINT_KEY = 'prompt_learner'
DERIVED_CONSTANTS = ('token_prefix_pos', 'token_suffix_pos', 'token_prefix_neg',
                     'token_suffix_neg', 'tokenized_prompts_pos', 'tokenized_prompts_neg')
_DEEP = re.compile(r'compound_prompts_text\.(\d+)$')
_UNUSED = re.compile(r'compound_prompt_projections\.\d+\.(weight|bias)$')


def _prompt_learner_state(state: Mapping[str, object]) -> Mapping[str, object] | None:
    inner = state.get(CHECKPOINT_KEY)
    if isinstance(inner, Mapping):
        return inner
    return state if 'ctx_pos' in state and 'ctx_neg' in state else None


def is_anomalyclip_checkpoint(state: Mapping[str, object]) -> bool:
    """True for ``{'prompt_learner': {...ctx_pos, ctx_neg...}}`` or the bare learner dict."""
    inner = _prompt_learner_state(state)
    return inner is not None and 'ctx_pos' in inner and 'ctx_neg' in inner


def _context(value: object, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.dim() != 4 or value.shape[:2] != (1, 1):
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise CheckpointMismatchError(
            f'AnomalyCLIP checkpoint: {name} has shape {shape}, expected (1, 1, n_ctx, width) '
            '(one object-agnostic prompt per state)')
    return value[0, 0].clone()


def convert_anomalyclip(state: Mapping[str, object]) -> StateDict:
    """Official prompt-learner state -> ``head.*`` keys of ``AnomalyCLIPHead``.

    Raises:
        CheckpointMismatchError: keys of no known role, or unexpected shapes.
    """
    inner = _prompt_learner_state(state)
    if inner is None:
        raise CheckpointMismatchError('not an AnomalyCLIP checkpoint: no prompt_learner with '
                                      'ctx_pos / ctx_neg')
    if CHECKPOINT_KEY in state and len(state) > 1:
        extra = sorted(k for k in state if k != CHECKPOINT_KEY)
        raise CheckpointMismatchError(f'AnomalyCLIP checkpoint: unexpected top-level keys {extra}')
    deep: dict[int, torch.Tensor] = {}
    unknown = []
    for key, value in inner.items():
        match = _DEEP.match(key)
        if match:
            deep[int(match.group(1))] = value
        elif key not in ('ctx_pos', 'ctx_neg') + DERIVED_CONSTANTS and not _UNUSED.match(key):
            unknown.append(key)
    if unknown:
        raise CheckpointMismatchError(f'AnomalyCLIP checkpoint: {len(unknown)} unknown keys '
                                      f'{sorted(unknown)[:5]}')
    if sorted(deep) != list(range(len(deep))):
        raise CheckpointMismatchError(f'AnomalyCLIP checkpoint: deep prompts {sorted(deep)} are '
                                      'not numbered 0..n-1')
    normal = _context(inner['ctx_pos'], 'ctx_pos')
    anomalous = _context(inner['ctx_neg'], 'ctx_neg')
    width = normal.shape[-1]
    deep_prompts = (torch.stack([deep[i] for i in range(len(deep))]) if deep
                    else normal.new_zeros(0, 0, width))
    return {'head.normal_ctx': normal, 'head.anomalous_ctx': anomalous,
            'head.deep_prompts': deep_prompts.clone()}


ANOMALYCLIP_CONVERTER = register_converter(CheckpointConverter(
    name='anomalyclip',
    description="AnomalyCLIP's released prompt checkpoints (zqhang/AnomalyCLIP "
                "checkpoints/9_12_4_multiscale{,_visa}/epoch_*.pth: {'prompt_learner': ...})",
    detect=is_anomalyclip_checkpoint,
    convert=convert_anomalyclip))
