"""Converter of the released CAT-Seg checkpoints (detectron2 ``model_final.pth``) to
:class:`~ovperception.models.catseg.CATSeg` state dicts.

Official layout (``CATSeg`` in cvlab-kaist/CAT-Seg): the fine-tuned OpenAI CLIP under
``sem_seg_head.predictor.clip_model.`` (attention weights already split into
``q/k/v_proj_weight``), the aggregator under ``sem_seg_head.predictor.transformer.``, the
guidance upsamplers ``upsample1`` / ``upsample2``, and input statistics buffers.
"""
from __future__ import annotations

from typing import Mapping

import torch

from ovperception.models.conversion import (CheckpointConverter, StateDict, raise_unmatched,
                                            register_converter)
from ovperception.models.panoptic.convert import official_model_state, read_detectron2_file

#: official prefix -> ours
PREFIXES = (('sem_seg_head.predictor.clip_model.', 'backbone.model.'),
            ('sem_seg_head.predictor.transformer.', 'aggregator.'),
            ('upsample1.', 'upsample1.'), ('upsample2.', 'upsample2.'))
#: official buffers that our model recomputes or takes from its config
DROPPED = ('pixel_mean', 'pixel_std', 'clip_pixel_mean', 'clip_pixel_std')
_MARKERS = ('sem_seg_head.predictor.transformer.conv1.weight', 'upsample1.weight')


def is_catseg_checkpoint(raw: Mapping[str, object]) -> bool:
    """True for CAT-Seg's released layout (its cost-embedding conv and guidance upsampler)."""
    state = official_model_state(raw)
    return all(marker in state for marker in _MARKERS)


def catseg_key(key: str) -> str | None:
    """Our name of one official key; None when it has no counterpart. The Swin blocks'
    shifted-window masks (persistent buffers in the release) are recomputed here."""
    if key in DROPPED or (key.startswith('sem_seg_head.predictor.transformer.')
                          and key.endswith('.attn_mask')):
        return ''
    for official, ours in PREFIXES:
        if key.startswith(official):
            return ours + key[len(official):]
    return None


def convert_catseg(raw: Mapping[str, object]) -> StateDict:
    """Official CAT-Seg state dict -> ours; raises naming every unmatched official key."""
    converted: StateDict = {}
    unmatched = []
    for key, value in official_model_state(raw).items():
        ours = catseg_key(key)
        if ours is None:
            unmatched.append(key)
        elif ours:
            converted[ours] = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    raise_unmatched(unmatched, 'CAT-Seg')
    return converted


CATSEG_CONVERTER = register_converter(CheckpointConverter(
    name='catseg',
    description='CAT-Seg releases (detectron2 model_final .pth / .pkl) -> '
                'configs/_base_/models/catseg_*.py',
    detect=is_catseg_checkpoint, convert=convert_catseg, read=read_detectron2_file))
