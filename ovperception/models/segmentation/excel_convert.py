"""Converter of trained ExCEL checkpoints (zwyang6/ExCEL ``scripts/train_voc.py``:
``torch.save(model.state_dict())`` of the DDP-wrapped ``ExCEL_model``, e.g.
``model_iter_30000.pth``) to :class:`~ovperception.models.segmentation.ExCELModel` with an
:class:`~ovperception.models.segmentation.ExCELSegHead`.

=======================================================  ==========================================
official (``module.`` prefix removed)                    ours
=======================================================  ==========================================
``decoder_fts_fuse.linears_modulelist.i.{proj,proj_2}``  ``seg_head.layer_mlps.i.{proj,proj_2}``
``decoder_fts_fuse.linear_fuse``                         ``seg_head.fuse``
``decoder.transformer.resblocks.i.*``                    ``seg_head.decoder.i.*`` (same names:
                                                         ``attn.in_proj_*``, ``attn.out_proj``,
                                                         ``ln_1``, ``ln_2``, ``mlp.c_fc``,
                                                         ``mlp.c_proj``)
``decoder.linear_pred``                                  ``seg_head.linear_pred``
``encoder.*``                                            dropped: the frozen CLIP comes from the
                                                         backbone's own weights (the official
                                                         loaders drop its position embedding too)
=======================================================  ==========================================

The official file does not record its iteration: ``train_iter`` is set to 0. Any other key
raises :class:`CheckpointMismatchError` naming it.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ovperception.models.conversion import (CheckpointConverter, StateDict, raise_unmatched,
                                            register_converter)

_MARKERS = ('decoder_fts_fuse.linear_fuse.weight', 'decoder.linear_pred.weight')
_RENAMES = (
    (re.compile(r'^decoder_fts_fuse\.linears_modulelist\.(\d+)\.(proj|proj_2)\.(weight|bias)$'),
     r'seg_head.layer_mlps.\1.\2.\3'),
    (re.compile(r'^decoder_fts_fuse\.linear_fuse\.(weight|bias)$'), r'seg_head.fuse.\1'),
    (re.compile(r'^decoder\.transformer\.resblocks\.(\d+)\.((attn\.(in_proj_weight|in_proj_bias'
                r'|out_proj\.(weight|bias)))|((ln_1|ln_2|mlp\.c_fc|mlp\.c_proj)\.'
                r'(weight|bias)))$'), r'seg_head.decoder.\1.\2'),
    (re.compile(r'^decoder\.linear_pred\.(weight|bias)$'), r'seg_head.linear_pred.\1'))


def _without_ddp_prefix(state: Mapping[str, object]) -> dict[str, object]:
    inner = state.get('state_dict') if isinstance(state.get('state_dict'), Mapping) else state
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in inner.items()}


def is_excel_state(state: Mapping[str, object]) -> bool:
    """A trained ExCEL checkpoint (with or without the DDP ``module.`` prefix)."""
    keys = _without_ddp_prefix(state)
    return all(marker in keys for marker in _MARKERS)


def excel_official_to_ours(key: str) -> str | None:
    """Our name of one official segmenter key (``module.`` removed), or None."""
    for pattern, replacement in _RENAMES:
        if pattern.match(key):
            return pattern.sub(replacement, key)
    return None


def convert_excel(state: Mapping[str, object]) -> StateDict:
    """Trained ExCEL state dict -> ``seg_head.*`` + ``train_iter`` of :class:`ExCELModel`.

    Raises:
        CheckpointMismatchError: keys with no counterpart or entries that are not tensors.
    """
    converted: StateDict = {}
    unmatched = []
    for key, value in _without_ddp_prefix(state).items():
        if key.startswith('encoder.'):
            continue
        ours = excel_official_to_ours(key)
        if ours is None or not isinstance(value, torch.Tensor):
            unmatched.append(key)
        else:
            converted[ours] = value.float()
    raise_unmatched(unmatched, 'ExCEL')
    converted['train_iter'] = torch.zeros((), dtype=torch.long)
    return converted


EXCEL_CONVERTER = register_converter(CheckpointConverter(
    name='excel',
    description='trained ExCEL segmenters (zwyang6/ExCEL model_iter_*.pth, DDP state dict) '
                '-> ExCELModel seg_head',
    detect=is_excel_state, convert=convert_excel))
