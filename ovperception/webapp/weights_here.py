"""Which configs' weights are on this machine: a cheap look at the local caches, for the model
list's labels (nothing is downloaded, opened or hashed; a damaged file still counts as here and
is reported when the model is built)."""
from __future__ import annotations

import os
from typing import Any, Iterator

from ovperception.models.clip.weights import WEIGHT_SUFFIXES, hf_weight_filenames, looks_like_path

#: Config keys whose string value names a weights file (relative to the working directory).
FILE_KEYS = ('pretrained', 'weights', 'checkpoint', 'sam_checkpoint')


def _dicts(node: Any) -> Iterator[dict]:
    """Every dict inside ``node`` (nested dicts and lists), ``node`` first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _dicts(value)


def _open_clip_tag_here(model_name: str, tag: str, hub_cache: str | None,
                        url_cache: str | None) -> bool:
    """Whether open_clip's ``(model_name, tag)`` weights lie in the HF hub cache or the URL
    download folder (``~/.cache/clip``), as :func:`find_cached_file` looks, without hashing."""
    from huggingface_hub import try_to_load_from_cache

    from ovperception.models.clip.open_clip import pretrained_cfg
    try:
        cfg = pretrained_cfg(model_name, tag)
    except ValueError:
        return False
    if cfg.get('file') and os.path.isfile(cfg['file']):
        return True
    if cfg.get('hf_hub'):
        repo_id, filename = os.path.split(cfg['hf_hub'])
        for name in hf_weight_filenames(filename):
            path = try_to_load_from_cache(repo_id, name, cache_dir=hub_cache)
            if isinstance(path, str) and os.path.isfile(path):
                return True
    if cfg.get('url'):
        folder = url_cache or os.path.expanduser('~/.cache/clip')
        return os.path.isfile(os.path.join(folder, os.path.basename(cfg['url'])))
    return False


def config_weights_here(config: Any, hub_cache: str | None = None,
                        url_cache: str | None = None) -> bool | None:
    """Whether every weight the model of ``config`` (a config path, or a parsed
    ``mmengine.Config``) loads is on this machine.

    Checked: open_clip backbones' ``pretrained`` tags (``model_name`` + tag, in the HF hub cache
    ``hub_cache`` or the URL cache ``url_cache``) and weight files named by
    :data:`FILE_KEYS` (paths with a weights suffix).

    Returns:
        True (all here), False (one is missing), None (nothing to check - random weights,
        as in tiny configs - or a weight this check cannot see, e.g. a timm tag, and none
        missing; also for an unreadable config).
    """
    from mmengine.config import Config
    try:
        model = (Config.fromfile(config) if isinstance(config, (str, os.PathLike))
                 else config).get('model')
    except Exception:  # an unreadable config is reported when it is run
        return None
    checked, unknown = 0, False
    for node in _dicts(model.to_dict() if hasattr(model, 'to_dict') else model):
        tag = node.get('pretrained')
        if isinstance(tag, str) and tag and not looks_like_path(tag) \
                and isinstance(node.get('model_name'), str):
            if not _open_clip_tag_here(node['model_name'], tag, hub_cache, url_cache):
                return False
            checked += 1
        elif isinstance(tag, str) and tag and not looks_like_path(tag):
            unknown = True  # a tag of another library (timm's DINO weights)
        for key in FILE_KEYS:
            value = node.get(key)
            if isinstance(value, str) and value.endswith(WEIGHT_SUFFIXES):
                if not os.path.isfile(value):
                    return False
                checked += 1
    return True if checked and not unknown else None
