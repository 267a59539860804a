"""Converter of AdaCLIP's released checkpoints (``pretrained_mvtec_colondb.pth``,
``pretrained_visa_clinicdb.pth``, ``pretrained_all.pth``).

The official file is ``AdaCLIP_Trainer.save``'s flat dict of the learnable tensors, keyed
``clip_model.<module>...``:

* ``visual_prompter.static_prompts.{i}`` (length, visual width), i < depth ->
  ``head.visual_static_prompts`` (depth, length, visual width);
* ``text_prompter.static_prompts.{i}``: i >= 1 -> ``head.text_static_prompts[i - 1]``;
  ``.0`` is read and dropped (the released text forward never uses block 0's prompt);
* ``patch_token_layer.head.{l}.*`` -> ``head.patch_projections.{l}.*``;
  ``cls_token_layer.head.0.*`` -> ``head.class_projection.*``;
* ``dynamic_visual_prompt_generator.head.{j}.*`` / ``dynamic_text_prompt_generator.head.{j}.*``
  -> ``head.visual_prompt_generator.{j}.*`` / ``head.text_prompt_generator.{j}.*``.

Any other key is an error naming it (the official loader uses ``strict=False``).
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import CheckpointConverter, StateDict, register_converter

PREFIX = 'clip_model.'
_STATIC = re.compile(r'(visual|text)_prompter\.static_prompts\.(\d+)$')
_LINEAR = re.compile(r'(patch_token_layer|cls_token_layer|dynamic_visual_prompt_generator|'
                     r'dynamic_text_prompt_generator)\.head\.(\d+)\.(weight|bias)$')
_TARGET = {'patch_token_layer': 'patch_projections.{}', 'cls_token_layer': 'class_projection',
           'dynamic_visual_prompt_generator': 'visual_prompt_generator.{}',
           'dynamic_text_prompt_generator': 'text_prompt_generator.{}'}


def _strip(state: Mapping[str, object]) -> dict[str, object]:
    return {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in state.items()}


def is_adaclip_checkpoint(state: Mapping[str, object]) -> bool:
    """True for a flat dict with AdaCLIP's prompters and patch-token layers."""
    keys = set(_strip(state))
    return ('visual_prompter.static_prompts.0' in keys or 'text_prompter.static_prompts.0'
            in keys) and 'patch_token_layer.head.0.weight' in keys


def _stack(prompts: dict[int, torch.Tensor], first: int, what: str) -> torch.Tensor:
    indices = sorted(prompts)
    if indices != list(range(len(indices))):
        raise CheckpointMismatchError(f'AdaCLIP checkpoint: {what} static prompts {indices} are '
                                      'not numbered 0..n-1')
    kept = [prompts[i] for i in indices[first:]]
    if not kept:
        raise CheckpointMismatchError(f'AdaCLIP checkpoint: no {what} static prompts to load')
    return torch.stack(kept).clone()


def convert_adaclip(state: Mapping[str, object]) -> StateDict:
    """Official ``AdaCLIP_Trainer.save`` dict -> ``head.*`` keys of ``AdaCLIPHead``.

    Raises:
        CheckpointMismatchError: keys of no known role, gaps in the prompt numbering.
    """
    if not is_adaclip_checkpoint(state):
        raise CheckpointMismatchError('not an AdaCLIP checkpoint: no clip_model.visual_prompter'
                                      ' / patch_token_layer keys')
    static: dict[str, dict[int, torch.Tensor]] = {'visual': {}, 'text': {}}
    out: StateDict = {}
    unknown = []
    for key, value in _strip(state).items():
        if (match := _STATIC.match(key)) is not None:
            static[match.group(1)][int(match.group(2))] = value
        elif (match := _LINEAR.match(key)) is not None:
            module, index, param = match.groups()
            out[f'head.{_TARGET[module].format(index)}.{param}'] = value.clone()
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointMismatchError(f'AdaCLIP checkpoint: {len(unknown)} unknown keys '
                                      f'{sorted(unknown)[:5]}')
    out['head.visual_static_prompts'] = _stack(static['visual'], 0, 'visual')
    out['head.text_static_prompts'] = _stack(static['text'], 1, 'text')
    return out


ADACLIP_CONVERTER = register_converter(CheckpointConverter(
    name='adaclip',
    description="AdaCLIP's released checkpoints (caoyunkang/AdaCLIP weights/pretrained_"
                "{mvtec_colondb,visa_clinicdb,all}.pth: AdaCLIP_Trainer.save's clip_model.* dict)",
    detect=is_adaclip_checkpoint,
    convert=convert_adaclip))
