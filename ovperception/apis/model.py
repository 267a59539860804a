"""Build a model from a config (and weights) and the in-memory inference pipeline of its config."""
from __future__ import annotations

from mmengine.config import Config
from mmengine.registry import init_default_scope

from ovperception.apis.options import type_name
from ovperception.models.checkpoint import load_model_state, prepare_config_for_weights
from ovperception.models.ov_model import OVModel
from ovperception.registry import MODELS, TRANSFORMS
from ovperception.utils.device import resolve_device

_SKIPPED_TRANSFORMS = ('LoadImageFromFile', 'LoadSegAnnotations', 'LoadAnnotations',
                       'LoadDetAnnotations')


def init_model(config: str | Config, weights: str | None = None, device: str = 'cpu', *,
               cfg_options: dict | None = None) -> OVModel:
    """Build the model of ``config``, load ``weights`` and put it in eval mode on ``device``
    (``'auto'``: cuda, then mps, then cpu; see :func:`~ovperception.utils.device.resolve_device`)."""
    device = resolve_device(device)
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'ovperception'))
    state = prepare_config_for_weights(cfg.model, weights) if weights else None
    model = MODELS.build(cfg.model)
    if state is not None:
        load_model_state(model, state, weights)
    model.cfg = cfg
    return model.to(device).eval()


def inference_pipeline(cfg: Config) -> list:
    """The config's test pipeline minus file and annotation loading (images come in memory)."""
    dataloader = cfg.get('test_dataloader') or {}
    steps = (dataloader.get('dataset') or {}).get('pipeline') or [dict(type='PackOVInputs')]
    return [TRANSFORMS.build(dict(step)) for step in steps
            if type_name(step['type']) not in _SKIPPED_TRANSFORMS]
