"""Converter of the released F-ViT detectors (wusize/CLIPSelf ``fvit_eva_vit{b16,l14}_ov
{coco,lvis}_*.pth``, mmdet 2.x checkpoints) to :class:`~ovperception.models.detection.FViT`.

==========================================================  ===================================
official (mmdet 2.x ``FViT``)                               ours
==========================================================  ===================================
``backbone.visual.*`` (EVA-CLIP names)                      ``backbone.model.visual.trunk.*``
                                                            (as the ``eva_clip`` converter)
``backbone.interpolate{1,2}.*``                             ``neck.interpolate{1,2}.*``
``neck.lateral_convs.i.{conv,bn}.*``                        ``neck.fpn.inner_blocks.i.{0,1}.*``
``neck.fpn_convs.i.{conv,bn}.*``                            ``neck.fpn.layer_blocks.i.{0,1}.*``
``rpn_head.rpn_conv.i.{conv,bn}.*``, ``rpn_cls``, ``rpn_reg`` ``rpn_head.rpn_conv.i.{0,1}.*``, same
``roi_head.bbox_head.shared_convs.i.{conv,bn}.*``           ``box_head.shared_convs.i.{0,1}.*``
``roi_head.bbox_head.{shared_fcs,cls_fcs,reg_fcs,fc_reg}``  ``box_head.*`` (same names)
``roi_head.bbox_head.detect_temperature``                   ``box_head.detect_temperature``
``roi_head.bbox_head.all_embeddings`` (C, K + 1)            ``background_embedding`` (its last
                                                            column); the K class columns are
                                                            dropped: classes come from the text
                                                            encoder for any vocabulary
``roi_head.bbox_head.fc_cls.*``                             dropped (built by mmdet's
                                                            ``ConvFCBBoxHead``, never used)
``roi_head.mask_head.convs.i.{conv,bn}.*``                  ``mask_head.convs.i.{0,1}.*``
``roi_head.mask_head.{upsample,conv_logits}.*``             ``mask_head.*`` (same names)
``backbone.visual[.blocks.i.attn].rope.*``                  dropped (recomputed per grid)
==========================================================  ===================================

The released files hold no text tower: the backbone config's ``pretrained`` (the EVA-02-CLIP
weights the detector was trained on) provides it. Any other key raises
:class:`CheckpointMismatchError` naming it.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ovperception.models.clip.convert import (MODEL_PREFIX, eva_visual_name, is_eva_rope_key,
                                              missing_eva_clip_keys)
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import (CheckpointConverter, StateDict, raise_unmatched,
                                            register_converter)

_MARKERS = ('backbone.interpolate1.0.weight', 'roi_head.bbox_head.all_embeddings')
_CONV_MODULE = re.compile(r'^(?P<head>.+\.\d+)\.(?P<part>conv|bn)\.(?P<rest>.+)$')
_RENAMES = (('backbone.interpolate', 'neck.interpolate'),
            ('neck.lateral_convs.', 'neck.fpn.inner_blocks.'),
            ('neck.fpn_convs.', 'neck.fpn.layer_blocks.'),
            ('roi_head.bbox_head.', 'box_head.'), ('roi_head.mask_head.', 'mask_head.'))
_OURS = re.compile(
    r'^(neck\.interpolate[12]\.\d+\.|neck\.fpn\.(inner|layer)_blocks\.\d+\.[01]\.'
    r'|rpn_head\.(rpn_conv\.\d+\.[01]\.|rpn_(cls|reg)\.)'
    r'|box_head\.(shared_convs\.\d+\.[01]\.|(shared_fcs|cls_fcs|reg_fcs)\.\d+\.|fc_reg\.)'
    r'|mask_head\.(convs\.\d+\.[01]\.|upsample\.|conv_logits\.))'
    r'(weight|bias|running_mean|running_var|num_batches_tracked)$')
_DROPPED = re.compile(r'^roi_head\.bbox_head\.fc_cls\.(weight|bias)$')


def _unwrap(state: Mapping[str, object]) -> Mapping[str, object]:
    inner = state.get('state_dict')
    return inner if isinstance(inner, Mapping) else state


def is_fvit_state(state: Mapping[str, object]) -> bool:
    """A released F-ViT detector (mmdet 2.x ``FViT`` state dict)."""
    keys = _unwrap(state)
    return all(marker in keys for marker in _MARKERS)


def _our_name(key: str) -> str | None:
    """Our name of one non-backbone-visual official key, or None."""
    if key == 'roi_head.bbox_head.detect_temperature':
        return 'box_head.detect_temperature'
    name = key
    for official, ours in _RENAMES:
        if name.startswith(official):
            name = ours + name[len(official):]
    match = _CONV_MODULE.match(name)
    if match:
        name = f"{match['head']}.{0 if match['part'] == 'conv' else 1}.{match['rest']}"
    return name if _OURS.match(name) else None


def convert_fvit(state: Mapping[str, object]) -> StateDict:
    """Released F-ViT checkpoint -> :class:`FViT` state dict (no text tower).

    Raises:
        CheckpointMismatchError: keys with no counterpart, non-tensor entries, or a vision
            tower with missing entries.
    """
    state = _unwrap(state)
    bad = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise CheckpointMismatchError(f'F-ViT checkpoint entries that are not tensors: {bad[:5]}')
    converted: StateDict = {}
    unmatched = []
    for key, value in state.items():
        if key.startswith('backbone.visual.'):
            inner = key[len('backbone.'):]
            if is_eva_rope_key(inner):
                continue
            name = eva_visual_name(inner)
            if name is None:
                unmatched.append(key)
            else:
                converted[MODEL_PREFIX + name] = value
        elif key == 'roi_head.bbox_head.all_embeddings':
            converted['background_embedding'] = value[:, -1].clone()
        elif _DROPPED.match(key):
            continue
        else:
            name = _our_name(key)
            if name is None:
                unmatched.append(key)
            else:
                converted[name] = value
    raise_unmatched(unmatched, 'F-ViT')
    visual = [k[len('backbone.'):] for k in state if k.startswith('backbone.visual.')]
    missing = [k for k in missing_eva_clip_keys(visual) if k.startswith('visual.')]
    if missing or not visual:
        raise CheckpointMismatchError(f'F-ViT checkpoint lacks vision-tower keys: '
                                      f'{missing[:10] or ["backbone.visual.*"]}')
    return converted


FVIT_CONVERTER = register_converter(CheckpointConverter(
    name='fvit',
    description='F-ViT detectors (wusize/CLIPSelf fvit_eva_vit{b16,l14}_ov{coco,lvis}_*.pth, '
                'mmdet 2.x) -> FViT',
    detect=is_fvit_state, convert=convert_fvit))
