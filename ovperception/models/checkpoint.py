"""Load ``--weights`` into an OVModel: a trained ovperception checkpoint or CLIP weights.

Two kinds of file are accepted, told apart by their keys:

* an ovperception/mmengine checkpoint (``{'state_dict': ...}`` or a bare state
  dict whose keys start with ``backbone.`` / ``head.`` / ``refiners.``);
* an open_clip state dict (keys such as ``visual.*``, ``token_embedding.weight``),
  loaded into the backbone;
* an official release of a method whose task package registers a converter
  (``models/conversion.py``), converted on load.

Files are read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os

import torch
from mmengine.logging import print_log
from torch import nn

from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError
from ovperception.models.conversion import find_converter
from ovperception.utils.safe_load import load_checkpoint_safely

MODEL_PREFIXES = ('backbone.', 'head.', 'seg_head.', 'refiners.', 'data_preprocessor.')


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, 'module', model)


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path``, converted when it is a registered official layout."""
    return convert_official_state(read_raw_state_dict(path), path)


def read_raw_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path`` (``state_dict`` unwrapped, ``module.`` stripped)."""
    if not os.path.isfile(path):
        raise WeightsNotFoundError(
            f'weights file {path!r} does not exist; pass an existing checkpoint with --weights '
            '(see docs/weights.md for how to obtain CLIP/SAM/DINO weights)')
    if path.lower().endswith('.pkl'):  # detectron2 releases: numpy pickles, read safely
        from ovperception.models.conversion import read_with_converters
        checkpoint = dict(read_with_converters(path))
    else:
        checkpoint = load_checkpoint_safely(path)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointMismatchError(f'{path!r} holds no state dict')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def convert_official_state(state: dict, path: str) -> dict[str, torch.Tensor]:
    """``state`` converted to our layout when it is a registered official layout, else as is."""
    converter = find_converter(state)
    if converter is None:
        return state
    print_log(f'{path}: official {converter.name} checkpoint, converted on load '
              f'(tools/convert_checkpoint.py {converter.name} converts it once)', logger='current')
    return converter.convert(state)


def is_model_state(state: dict) -> bool:
    """True for a whole-OVModel state dict, False for bare CLIP weights."""
    return any(key.startswith(MODEL_PREFIXES) for key in state)


def prepare_config_for_weights(model_cfg: dict, path: str) -> dict[str, torch.Tensor] | None:
    """Adapt ``model_cfg`` before building so that ``path`` supplies the weights.

    CLIP weights become the backbone's ``pretrained`` file (no cache lookup for
    a tag). A model checkpoint that holds the backbone too switches
    ``pretrained`` off; one that holds the head switches the head's own ``weights`` (a release
    it would otherwise download, e.g. Talk2DINO's projection) off. Returns the model state
    still to load after building
    (None for CLIP weights).
    """
    state = read_state_dict(path)
    if not is_model_state(state):
        model_cfg['backbone']['pretrained'] = path
        return None
    if any(key.startswith('backbone.') for key in state):
        model_cfg['backbone']['pretrained'] = None
    if any(key.startswith('head.') for key in state) and model_cfg.get('head', {}).get('weights'):
        model_cfg['head']['weights'] = None  # the head's own release file is replaced, not read
    return state


def load_weights(model: nn.Module, path: str) -> nn.Module:
    """Load ``path`` into ``model`` (an OVModel, possibly DDP-wrapped) and return it.

    Raises:
        WeightsNotFoundError: the file does not exist.
        CheckpointMismatchError: keys or shapes do not fit the model.
    """
    model = _unwrap(model)
    state = read_state_dict(path)
    if is_model_state(state):
        load_model_state(model, state, path)
    else:
        from ovperception.models.clip.open_clip import load_clip_weights
        load_clip_weights(model.backbone.model, path, model.backbone.model_name)
    print_log(f'loaded weights from {path}', logger='current')
    return model


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """Strictly load a full-model state dict; backbone keys may be absent (frozen CLIP), and
    so may the keys under the model's ``trained_from_scratch`` prefixes (e.g. a Mask-Adapter
    about to be trained on a released FC-CLIP)."""
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    optional = ('backbone.', *getattr(model, 'trained_from_scratch', ()))
    missing = sorted(k for k in set(own) - set(state) if not k.startswith(optional))
    mismatched = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if unexpected or missing or mismatched:
        details = []
        for label, keys in (('missing', missing), ('unexpected', unexpected),
                            ('shape-mismatched', mismatched)):
            if keys:
                details.append(f'{len(keys)} {label} (e.g. {keys[:3]})')
        raise CheckpointMismatchError(
            f'checkpoint {path!r} does not fit {type(model).__name__}: ' + '; '.join(details)
            + '. Was it trained with a different config?')
    model.load_state_dict(state, strict=False)
