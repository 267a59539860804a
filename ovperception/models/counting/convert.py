"""Released CLIP-EBC checkpoints (``CLIP_EBC.state_dict()``, e.g. ``best_mae.pth``) ->
the state dict of ``OVModel(CLIPEBCBackbone, BlockwiseCountingHead)``.

Official name                        ours
``image_encoder.*``                  ``backbone.model.visual.*``   (OpenAI CLIP names)
``text_encoder.*``                   ``backbone.model.*``          (token_embedding, ...)
``vpt_{i}``                          ``backbone.vpt.{i}``
``image_decoder.*``                  ``head.decoder.*``
``projection.*``                     ``head.projection.*``
``logit_scale``                      ``head.log_logit_scale``      (both hold the log)

Training checkpoints (``{'model_state_dict': ...}``) are unwrapped. Any other key raises
:class:`CheckpointMismatchError` naming it.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ovperception.models.conversion import (CheckpointConverter, StateDict, raise_unmatched,
                                            register_converter)

_PREFIXES = (('image_encoder.', 'backbone.model.visual.'), ('text_encoder.', 'backbone.model.'),
             ('image_decoder.', 'head.decoder.'), ('projection.', 'head.projection.'))
_VPT = re.compile(r'^vpt_(\d+)$')


def _unwrap(state: Mapping[str, object]) -> Mapping[str, object]:
    inner = state.get('model_state_dict')
    return inner if isinstance(inner, Mapping) else state


def is_clip_ebc_state(state: Mapping[str, object]) -> bool:
    """An official CLIP-EBC model: image and text encoders, logit scale, a projection or
    decoder."""
    keys = list(_unwrap(state))
    return ('logit_scale' in keys and any(k.startswith('image_encoder.') for k in keys)
            and any(k.startswith('text_encoder.') for k in keys)
            and any(k.startswith(('projection.', 'image_decoder.')) for k in keys))


def convert_clip_ebc(state: Mapping[str, object]) -> StateDict:
    """Rename an official CLIP-EBC state dict (see the module docstring)."""
    converted: StateDict = {}
    unmatched = []
    for key, value in _unwrap(state).items():
        if not isinstance(value, torch.Tensor):
            unmatched.append(key)
            continue
        vpt = _VPT.match(key)
        if key == 'logit_scale':
            converted['head.log_logit_scale'] = value.reshape(())
        elif vpt:
            converted[f'backbone.vpt.{vpt.group(1)}'] = value
        else:
            for official, ours in _PREFIXES:
                if key.startswith(official):
                    converted[ours + key[len(official):]] = value
                    break
            else:
                unmatched.append(key)
    raise_unmatched(unmatched, 'CLIP-EBC')
    return converted


CLIP_EBC_CONVERTER = register_converter(CheckpointConverter(
    name='clip_ebc',
    description='CLIP-EBC release (Yiming-M/CLIP-EBC best_*.pth / training checkpoints): '
                'ViT-B/16 with VPT or ResNet encoders',
    detect=is_clip_ebc_state, convert=convert_clip_ebc))
