"""Convert FC-CLIP's released checkpoints (bytedance/fc-clip, detectron2) to our layout.

The released files are detectron2 checkpoints: a ``.pth`` holding ``{'model': state_dict,
...}`` or a ``.pkl`` holding ``{'model': {name: numpy array}}``. Our modules mirror the
official ones, so conversion is renaming (plus the void embedding's (1, C) -> (C,) shape):

==============================================================  ==============================
official                                                        ours
==============================================================  ==============================
``backbone.clip_model.*``                                       ``backbone.model.*``
``void_embedding.weight``                                       ``void_embedding``
``sem_seg_head.predictor.logit_scale``                          ``logit_scale``
``sem_seg_head.pixel_decoder.transformer.level_embed``          ``pixel_decoder.level_embed``
``sem_seg_head.pixel_decoder.transformer.encoder.layers.N.*``   ``pixel_decoder.encoder_layers.N.*``
``sem_seg_head.pixel_decoder.adapter_1`` / ``layer_1``          ``pixel_decoder.lateral_conv`` / ``output_conv``
``sem_seg_head.predictor.transformer_*_layers.N``               ``mask_decoder.layers.N``
``sem_seg_head.predictor._mask_pooling_proj``                   ``mask_decoder.mask_pooling_proj``
``sem_seg_head.predictor.query_embed``                          ``mask_decoder.query_pos``
==============================================================  ==============================

MAFT+ releases (same codebase) convert too: its fine-tuned CLIP is ``backbone.clip_model.*``
(loaded as our backbone), ``cdt.cross_atten.*`` becomes ``content_transfer.*``
(``MAFTContentTransfer``) and its frozen teacher ``backbone_t.*`` is dropped.

Every official key must match a rule; only training-only entries (``criterion.empty_weight``,
``backbone_t.*``) are dropped. Anything else raises :class:`CheckpointMismatchError` naming
the keys.
"""
from __future__ import annotations

import pickle
import re
from typing import Mapping

import numpy as np
import torch

from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import CheckpointConverter, StateDict, register_converter

_PD = r'sem_seg_head\.pixel_decoder\.'
_PR = r'sem_seg_head\.predictor\.'
#: (official key pattern, our key template), tried in order; the first full match wins.
RULES: tuple[tuple[str, str], ...] = (
    (r'backbone\.clip_model\.(.+)', r'backbone.model.\1'),
    (r'void_embedding\.weight', 'void_embedding'),
    (r'mask_adapter\.(.+)', r'mask_adapter.\1'),  # Mask-Adapter releases
    (_PR + r'logit_scale', 'logit_scale'),
    (_PD + r'input_proj\.(\d+)\.([01])\.(weight|bias)', r'pixel_decoder.input_proj.\1.\2.\3'),
    (_PD + r'transformer\.level_embed', 'pixel_decoder.level_embed'),
    (_PD + r'transformer\.encoder\.layers\.(\d+)\.(self_attn\.\w+|norm1|norm2|linear1|linear2)'
     r'\.(weight|bias)', r'pixel_decoder.encoder_layers.\1.\2.\3'),
    (_PD + r'adapter_1\.weight', 'pixel_decoder.lateral_conv.0.weight'),
    (_PD + r'adapter_1\.norm\.(weight|bias)', r'pixel_decoder.lateral_conv.1.\1'),
    (_PD + r'layer_1\.weight', 'pixel_decoder.output_conv.0.weight'),
    (_PD + r'layer_1\.norm\.(weight|bias)', r'pixel_decoder.output_conv.1.\1'),
    (_PD + r'mask_features\.(weight|bias)', r'pixel_decoder.mask_features.\1'),
    (_PR + r'transformer_cross_attention_layers\.(\d+)\.multihead_attn\.(.+)',
     r'mask_decoder.layers.\1.cross_attn.\2'),
    (_PR + r'transformer_cross_attention_layers\.(\d+)\.norm\.(weight|bias)',
     r'mask_decoder.layers.\1.norms.0.\2'),
    (_PR + r'transformer_self_attention_layers\.(\d+)\.self_attn\.(.+)',
     r'mask_decoder.layers.\1.self_attn.\2'),
    (_PR + r'transformer_self_attention_layers\.(\d+)\.norm\.(weight|bias)',
     r'mask_decoder.layers.\1.norms.1.\2'),
    (_PR + r'transformer_ffn_layers\.(\d+)\.linear1\.(weight|bias)',
     r'mask_decoder.layers.\1.ffn.0.\2'),
    (_PR + r'transformer_ffn_layers\.(\d+)\.linear2\.(weight|bias)',
     r'mask_decoder.layers.\1.ffn.2.\2'),
    (_PR + r'transformer_ffn_layers\.(\d+)\.norm\.(weight|bias)',
     r'mask_decoder.layers.\1.norms.2.\2'),
    (_PR + r'(decoder_norm|query_feat|level_embed)\.(weight|bias)', r'mask_decoder.\1.\2'),
    (_PR + r'query_embed\.weight', 'mask_decoder.query_pos.weight'),
    (_PR + r'input_proj\.(\d+)\.(weight|bias)', r'mask_decoder.input_proj.\1.\2'),
    (_PR + r'(mask_embed|class_embed)\.layers\.(\d)\.(weight|bias)',
     r'mask_decoder.\1.layers.\2.\3'),
    (_PR + r'_mask_pooling_proj\.([01])\.(weight|bias)', r'mask_decoder.mask_pooling_proj.\1.\2'),
    # MAFT+ (jiaosiyu1999/MAFT-Plus): its content-dependent transfer
    (r'cdt\.cross_atten\.multihead_attn\.(.+)', r'content_transfer.attn.\1'),
    (r'cdt\.cross_atten\.norm\.(weight|bias)', r'content_transfer.norm.\1'),
    (r'cdt\.cross_atten\.MLP\.(weight|bias)', r'content_transfer.mlp.\1'),
)
#: official keys that carry nothing our model needs (training-only buffers, input statistics)
DROPPED = ('criterion.empty_weight', 'pixel_mean', 'pixel_std')
#: key prefixes dropped: MAFT+'s frozen teacher CLIP (used only by its training loss)
DROPPED_PREFIXES = ('backbone_t.',)
_COMPILED = [(re.compile(pattern), template) for pattern, template in RULES]
_MARKERS = ('sem_seg_head.predictor._mask_pooling_proj.1.weight', 'void_embedding.weight')


def official_model_state(raw: Mapping[str, object]) -> Mapping[str, object]:
    """The ``model`` entry of a detectron2 checkpoint (or ``raw`` when already flat)."""
    inner = raw.get('model')
    return inner if isinstance(inner, Mapping) else raw


def is_fcclip_checkpoint(raw: Mapping[str, object]) -> bool:
    """True for FC-CLIP's released layout (its mask-pooling projection and void embedding)."""
    state = official_model_state(raw)
    return all(marker in state for marker in _MARKERS)


def official_to_ours(key: str) -> str | None:
    """Our name of one official key (None when no rule matches)."""
    for pattern, template in _COMPILED:
        if pattern.fullmatch(key):
            return pattern.sub(template, key)
    return None


def convert_fcclip(raw: Mapping[str, object]) -> StateDict:
    """Official FC-CLIP state dict -> ours; raises naming every official key left unmatched."""
    state = official_model_state(raw)
    converted: StateDict = {}
    unmatched = []
    for key, value in state.items():
        if key in DROPPED or key.startswith(DROPPED_PREFIXES):
            continue
        ours = official_to_ours(key)
        if ours is None:
            unmatched.append(key)
            continue
        tensor = torch.as_tensor(value) if not isinstance(value, torch.Tensor) else value
        converted[ours] = tensor.reshape(-1) if ours == 'void_embedding' else tensor
    if unmatched:
        raise CheckpointMismatchError(
            f'{len(unmatched)} FC-CLIP checkpoint keys have no counterpart in our model: '
            f'{sorted(unmatched)[:10]}')
    return converted


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles only dicts, lists, numbers, strings and numpy arrays; refuses any other
    global (which is what could run code)."""

    ALLOWED = {('numpy.core.multiarray', '_reconstruct'),
               ('numpy._core.multiarray', '_reconstruct'),
               ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
               ('numpy', 'ndarray'), ('numpy', 'dtype'), ('collections', 'OrderedDict')}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f'{module}.{name}')
        return super().find_class(module, name)


def trusted_conversion_command(path: str) -> str:
    """The one-liner that turns ``path`` into a tensors-only file (run only if trusted)."""
    return (f'python -c "import pickle, torch; d = pickle.load(open(\'{path}\', \'rb\'), '
            f'encoding=\'latin1\'); d = d.get(\'model\', d); torch.save({{k: torch.as_tensor(v) '
            f'for k, v in d.items()}}, \'{path}.pth\')"')


def read_detectron2_file(path: str) -> Mapping[str, object]:
    """Read a detectron2 ``.pkl`` (numpy arrays only, no code run) or a ``.pth``
    (``weights_only``); tensors come back as torch tensors."""
    if not path.lower().endswith('.pkl'):
        from ovperception.models.checkpoint import read_raw_state_dict
        return read_raw_state_dict(path)
    try:
        with open(path, 'rb') as handle:
            data = _NumpyOnlyUnpickler(handle, encoding='latin1').load()
    except pickle.UnpicklingError as error:
        raise CheckpointMismatchError(
            f'{path} needs code execution to unpickle (it references {error}); if you trust '
            f'the file, convert it once with: {trusted_conversion_command(path)}') from None
    if not isinstance(data, Mapping):
        raise CheckpointMismatchError(f'{path} holds a {type(data).__name__}, not a state dict')
    model = official_model_state(data)
    return {key: torch.from_numpy(value.copy()) if isinstance(value, np.ndarray)
            else value for key, value in model.items()}


FCCLIP_CONVERTER = register_converter(CheckpointConverter(
    name='fcclip',
    description='FC-CLIP / MAFT+ releases (detectron2 .pth or .pkl) -> '
                'configs/_base_/models/{fcclip,maftp}_*.py',
    detect=is_fcclip_checkpoint, convert=convert_fcclip, read=read_detectron2_file))
#: Mask-Adapter's releases are FC-CLIP / MAFT+ files with ``mask_adapter.*`` keys: the same
#: conversion, under the method's name on the command line.
MASKADAPTER_CONVERTER = register_converter(CheckpointConverter(
    name='maskadapter',
    description='Mask-Adapter releases on FC-CLIP / MAFT+ (detectron2 .pth / .pkl) -> '
                'configs/_base_/models/{fcclip,maftp}_*_mask_adapter.py',
    detect=is_fcclip_checkpoint, convert=convert_fcclip, read=read_detectron2_file,
    detect_on_load=False))
