"""Check ``--cfg-options`` keys against the config and the components' signatures.

A typo in a top-level key, or in a nested key of a component (``model.head.logit_scal``),
must fail with one line before anything is built, not as a ``TypeError`` from a constructor
minutes later.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable

#: Top-level keys mmengine's ``Runner`` reads even when the config does not set them.
RUNNER_KEYS = frozenset({
    'model_wrapper_cfg', 'auto_scale_lr', 'visualizer', 'data_preprocessor', 'experiment_name',
    'env_cfg', 'launcher', 'load_from', 'resume', 'work_dir', 'log_level', 'log_processor',
    'randomness', 'default_scope', 'custom_hooks', 'default_hooks', 'optim_wrapper',
    'param_scheduler', 'train_cfg', 'val_cfg', 'test_cfg'})


class UnknownConfigKeyError(KeyError):
    """A ``--cfg-options`` key that the config (or the component it names) does not take."""

    def __str__(self) -> str:
        return str(self.args[0])


def _resolve(component_type: object) -> Any:
    """The class/function a config ``type=`` names (registry strings looked up); None if unknown."""
    if not isinstance(component_type, str):
        return component_type
    from ovperception import registry
    for name in ('MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'VISUALIZERS',
                 'OPTIM_WRAPPERS', 'OPTIMIZERS', 'PARAM_SCHEDULERS', 'LOOPS', 'DATA_SAMPLERS'):
        try:
            found = getattr(registry, name).get(component_type)
        except Exception:  # a registry that cannot import its locations: not this one
            found = None
        if found is not None:
            return found
    return None


def component_parameters(component_type: object) -> set[str] | None:
    """Keyword arguments a component takes; None when unknown or it has ``**kwargs``."""
    component = _resolve(component_type)
    if component is None:
        return None
    try:
        parameters = inspect.signature(component).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return set(parameters) - {'self'}


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict) or hasattr(node, 'to_dict'):  # a dict or an mmengine Config
        return node.get(part)
    if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


def check_option_keys(cfg: Any, keys: Iterable[str]) -> None:
    """Raise :class:`UnknownConfigKeyError` for a key the config cannot take.

    A top-level key must be in the config or be one the runner reads (:data:`RUNNER_KEYS`);
    below a dict with ``type=``, the next key must be a keyword of that component (unless it
    takes ``**kwargs`` or ``type`` itself changes).
    """
    keys = list(keys)
    settings = sorted(k for k in cfg.keys() if k[:1].islower() and k != 'read_base')
    unknown = sorted({key.split('.')[0] for key in keys} - set(settings) - RUNNER_KEYS)
    if unknown:
        raise UnknownConfigKeyError(f'--cfg-options names unknown top-level keys {unknown}; '
                                    f'the config has {settings}')
    for key in keys:
        parts = key.split('.')
        if 'type' in parts:  # the component itself is replaced: checked when it is built
            continue
        node = cfg
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, part)
            if not isinstance(node, dict):
                break
            if 'type' not in node:
                continue
            accepted = component_parameters(node['type'])
            name = parts[depth + 1]
            if accepted is not None and name not in accepted:
                kind = node['type'] if isinstance(node['type'], str) else node['type'].__name__
                raise UnknownConfigKeyError(
                    f'--cfg-options {key}: {kind} (at {".".join(parts[:depth + 1])}) takes no '
                    f'argument {name!r}; it takes {sorted(accepted)}')
