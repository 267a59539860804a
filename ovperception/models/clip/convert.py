"""Converters of EVA-CLIP-layout releases (DeCLIP, CLIPSelf, EVA-02-CLIP) to our backbones.

DeCLIP (xiaomoguhz/DeCLIP) and CLIPSelf (wusize/CLIPSelf) fine-tune EVA-02-CLIP in their
copies of the EVA-CLIP code and save ``{'state_dict': model.state_dict(), ...}`` (also
``module.``-prefixed or bare); BAAI's own ``EVA02_CLIP_*.pt`` files have the same keys. Our
``OpenCLIPBackbone('EVA02-B-16' | 'EVA02-L-14-336')`` holds the same weights under open_clip's
names (timm ``Eva`` trunk):

====================================  =========================================================
EVA-CLIP name                         ours (``backbone.model.`` + ...)
====================================  =========================================================
``visual.X``                          ``visual.trunk.X`` (``patch_embed``, ``cls_token``,
                                      ``pos_embed``, ``norm``, ``head``, ``blocks.i.norm1/2``,
                                      ``blocks.i.attn.{q,k,v}_proj.weight``, ``attn.proj``)
``visual.blocks.i.attn.q_bias``       ``visual.trunk.blocks.i.attn.q_proj.bias`` (``v_bias`` too)
``...attn.inner_attn_ln``             ``...attn.norm``
``...mlp.w1`` / ``w2`` / ``w3``       ``...mlp.fc1_g`` / ``fc1_x`` / ``fc2`` (SwiGLU)
``...mlp.ffn_ln``                     ``...mlp.norm``
``text.X``, ``logit_scale``           the same names (open_clip's ``TextTransformer``)
``visual[.blocks.i.attn].rope.*``     dropped: RoPE tables the tower recomputes for every grid
====================================  =========================================================

CLIPSelf also released an OpenAI ViT-B/16 (wusize/CLIPSelf issue #2): an open_clip (v2.16)
``CLIP`` state dict, whose names are already ours; the ``clipself`` converter only prefixes
it. Any other key raises :class:`CheckpointMismatchError` naming it.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import CheckpointConverter, StateDict, register_converter

MODEL_PREFIX = 'backbone.model.'
_CONTAINERS = ('state_dict', 'model', 'module')
_ROPE = re.compile(r'^visual\.(blocks\.\d+\.attn\.)?rope\.freqs_(cos|sin)$')
_BLOCK_RENAMES = (('.attn.q_bias', '.attn.q_proj.bias'), ('.attn.v_bias', '.attn.v_proj.bias'),
                  ('.attn.inner_attn_ln.', '.attn.norm.'), ('.mlp.ffn_ln.', '.mlp.norm.'),
                  ('.mlp.w1.', '.mlp.fc1_g.'), ('.mlp.w2.', '.mlp.fc1_x.'),
                  ('.mlp.w3.', '.mlp.fc2.'))
_VISUAL_TOP = ('visual.patch_embed.proj.', 'visual.cls_token', 'visual.pos_embed',
               'visual.norm.', 'visual.head.')
_BLOCK_KEY = re.compile(
    r'^visual\.blocks\.\d+\.(norm[12]\.(weight|bias)|attn\.(q_proj|k_proj|v_proj)\.weight'
    r'|attn\.(q_bias|v_bias)|attn\.(proj|inner_attn_ln)\.(weight|bias)'
    r'|mlp\.(w1|w2|w3|ffn_ln)\.(weight|bias))$')
_TEXT_KEY = re.compile(r'^(text\.|logit_scale$)')
_OPENAI_MARKERS = ('visual.conv1.weight', 'visual.class_embedding', 'token_embedding.weight')
_REQUIRED = ('visual.patch_embed.proj.weight', 'visual.cls_token', 'visual.pos_embed',
             'visual.norm.weight', 'visual.head.weight', 'text.token_embedding.weight',
             'text.positional_embedding', 'text.ln_final.weight', 'text.text_projection',
             'logit_scale')
_NUMBERED = re.compile(r'^((?:visual\.blocks|text\.transformer\.resblocks)\.)(\d+)\.(.+)$')


def _unwrap(state: Mapping[str, object]) -> Mapping[str, object]:
    """The model state inside a training checkpoint; ``module.`` prefixes removed."""
    for key in _CONTAINERS:
        inner = state.get(key)
        if isinstance(inner, Mapping):
            state = inner
            break
    if state and all(str(k).startswith('module.') for k in state):
        state = {str(k)[len('module.'):]: v for k, v in state.items()}
    return state


def is_eva_clip_state(state: Mapping[str, object]) -> bool:
    """An EVA-CLIP-layout model (EVA-02-CLIP, DeCLIP, CLIPSelf): EVA vision blocks + text."""
    keys = _unwrap(state)
    return ('visual.pos_embed' in keys and 'visual.patch_embed.proj.weight' in keys
            and any(str(k).startswith('text.') for k in keys))


def is_openai_vit_state(state: Mapping[str, object]) -> bool:
    """An open_clip / OpenAI-layout ViT CLIP (CLIPSelf's OpenAI ViT-B/16 release)."""
    keys = _unwrap(state)
    return all(marker in keys for marker in _OPENAI_MARKERS)


def eva_visual_name(key: str) -> str | None:
    """Our name (under ``backbone.model.``) of an EVA-CLIP ``visual.*`` key, or None."""
    return _eva_name(key) if key.startswith('visual.') else None


def is_eva_rope_key(key: str) -> bool:
    """RoPE tables (``visual[.blocks.i.attn].rope.freqs_*``) that every tower recomputes."""
    return _ROPE.match(key) is not None


def _eva_name(key: str) -> str | None:
    """Our name of one EVA-CLIP key (without the model prefix), or None if unknown."""
    if _TEXT_KEY.match(key):
        return key
    if key.startswith(_VISUAL_TOP):
        return 'visual.trunk.' + key[len('visual.'):]
    if _BLOCK_KEY.match(key):
        name = 'visual.trunk.' + key[len('visual.'):]
        for official, ours in _BLOCK_RENAMES:
            name = name.replace(official, ours)
        return name
    return None


def missing_eva_clip_keys(keys: list[str]) -> list[str]:
    """Required EVA-CLIP keys absent from ``keys``, and the entries that blocks of one tower
    lack compared with the others (a truncated or partial file)."""
    missing = [key for key in _REQUIRED if key not in keys]
    towers: dict[str, dict[int, set[str]]] = {}
    for key in keys:
        match = _NUMBERED.match(key)
        if match:
            towers.setdefault(match.group(1), {}).setdefault(
                int(match.group(2)), set()).add(match.group(3))
    for prefix, blocks in towers.items():
        every = set().union(*blocks.values())
        for index in range(max(blocks) + 1):
            missing += [f'{prefix}{index}.{entry}'
                        for entry in sorted(every - blocks.get(index, set()))]
    return missing


def _tensors(state: Mapping[str, object]) -> dict[str, torch.Tensor]:
    bad = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise CheckpointMismatchError(f'checkpoint entries that are not tensors: {bad[:5]}')
    return {str(k): v for k, v in state.items()}  # type: ignore[misc]


def convert_eva_clip(state: Mapping[str, object]) -> StateDict:
    """EVA-CLIP-layout state dict -> ``backbone.model.*`` keys of an EVA02 OpenCLIPBackbone.

    Raises:
        CheckpointMismatchError: keys with no counterpart (listed), or no vision tower.
    """
    converted: StateDict = {}
    unmatched = []
    for key, value in _tensors(_unwrap(state)).items():
        if _ROPE.match(key):
            continue
        name = _eva_name(key)
        if name is None:
            unmatched.append(key)
        else:
            converted[MODEL_PREFIX + name] = value
    if unmatched:
        raise CheckpointMismatchError(
            f'EVA-CLIP checkpoint has {len(unmatched)} keys with no counterpart in an EVA02 '
            f'open_clip model: {sorted(unmatched)[:10]}')
    missing = missing_eva_clip_keys(list(_unwrap(state)))
    if missing:
        raise CheckpointMismatchError(
            f'EVA-CLIP checkpoint lacks {len(missing)} keys: {missing[:10]}')
    return converted


def convert_clipself(state: Mapping[str, object]) -> StateDict:
    """CLIPSelf releases: EVA-02-CLIP models (converted) or its OpenAI ViT-B/16 (prefixed)."""
    if is_eva_clip_state(state):
        return convert_eva_clip(state)
    if is_openai_vit_state(state):
        return {MODEL_PREFIX + key: value for key, value in _tensors(_unwrap(state)).items()}
    raise CheckpointMismatchError('not a CLIPSelf checkpoint: neither EVA-CLIP keys '
                                  '(visual.pos_embed, text.*) nor an open_clip ViT CLIP')


def _is_clipself_state(state: Mapping[str, object]) -> bool:
    return is_eva_clip_state(state) or is_openai_vit_state(state)


EVA_CLIP_CONVERTER = register_converter(CheckpointConverter(
    name='eva_clip',
    description='EVA-CLIP-layout CLIP models (BAAI EVA02_CLIP_*.pt and the DeCLIP / CLIPSelf '
                'releases) -> OpenCLIPBackbone EVA02-B-16 / EVA02-L-14-336',
    detect=is_eva_clip_state, convert=convert_eva_clip))
DECLIP_CONVERTER = register_converter(CheckpointConverter(
    name='declip',
    description='DeCLIP releases (xiaomoguhz/DeCLIP, Hugging Face xiaomoguhzz/DeCLIP_*: '
                'EVA-02-CLIP B/16, L/14-336) -> OpenCLIPBackbone EVA02-*',
    detect=is_eva_clip_state, convert=convert_eva_clip, detect_on_load=False))
CLIPSELF_CONVERTER = register_converter(CheckpointConverter(
    name='clipself',
    description='CLIPSelf releases (wusize/CLIPSelf eva_vit{b16,l14}_*.pt: EVA-02-CLIP; the '
                'OpenAI ViT-B/16 of issue #2) -> OpenCLIPBackbone',
    detect=_is_clipself_state, convert=convert_clipself, detect_on_load=False))
