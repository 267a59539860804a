"""Resolving and loading CLIP weights from local files (pure torch / os; no open_clip).

A checkpoint file is read on CPU with ``torch.load(..., weights_only=True)``
(``.safetensors`` through safetensors; OpenAI's original TorchScript archives through
``torch.jit.load``, since ``weights_only`` cannot read them), unwrapped from the usual
``state_dict`` / ``model`` containers and ``module.`` prefixes, and compared key by key
and shape by shape with the model before loading.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ovperception.utils.download import WeightsNotFoundError
from ovperception.utils.safe_load import safe_torch_load

WEIGHT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt')
_CONTAINER_KEYS = ('state_dict', 'model', 'module', 'model_state_dict')
_TORCHSCRIPT_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')
_MAX_LISTED = 5
HF_WEIGHTS_NAME = 'open_clip_pytorch_model.bin'  # open_clip.constants, without importing it
HF_SAFE_WEIGHTS_NAME = 'open_clip_model.safetensors'


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's keys or shapes do not match the model architecture."""


def looks_like_path(pretrained: str) -> bool:
    """Whether ``pretrained`` names a file rather than an open_clip tag."""
    return ('/' in pretrained or os.sep in pretrained
            or pretrained.lower().endswith(WEIGHT_SUFFIXES))


def file_identity(path: str) -> str:
    """Stable identity of a weights file: sha1 of (absolute path, size, mtime)."""
    st = os.stat(path)
    key = f'{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}'
    return hashlib.sha1(key.encode()).hexdigest()


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith('/constants.pkl') or name == 'constants.pkl'
                   for name in zf.namelist())


def read_checkpoint(path: str) -> object:
    """The object stored in a weights file, read on CPU without unpickling code:
    ``.safetensors``, OpenAI's TorchScript archives (tensors only), or
    ``torch.load(weights_only=True)``; :func:`unwrap_state_dict` flattens it."""
    if path.lower().endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path, device='cpu')
    if _is_torchscript_archive(path):
        # OpenAI's original CLIP releases are TorchScript archives, which
        # ``weights_only`` refuses; jit.load restores tensors and TorchScript code only.
        state = torch.jit.load(path, map_location='cpu').state_dict()
        return {k: v for k, v in state.items() if k not in _TORCHSCRIPT_EXTRA_KEYS}
    return safe_torch_load(path)


def unwrap_state_dict(checkpoint: object, source: str = '<checkpoint>') -> dict[str, Tensor]:
    """Extract a flat ``{name: tensor}`` state dict from a loaded checkpoint object.

    Descends into ``state_dict`` / ``model`` / ``module`` containers, drops non-tensor
    entries and strips a ``module.`` prefix carried by every key (DDP checkpoints).

    Args:
        checkpoint: object returned by ``torch.load``.
        source: name used in error messages.

    Returns:
        Flat state dict.

    Raises:
        CheckpointMismatchError: if no tensors are found.
    """
    obj = checkpoint
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _CONTAINER_KEYS
                      if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(
            f'{source}: expected a state dict (mapping of tensors), got {type(obj).__name__}')
    state = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not state:
        raise CheckpointMismatchError(f'{source}: no tensors found in the checkpoint')
    return strip_prefix(state, 'module.')


def strip_prefix(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Remove ``prefix`` from every key if, and only if, every key carries it."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def align_prefixes(state: Mapping[str, Tensor], expected_keys: Iterable[str],
                   prefixes: Iterable[str] = ('backbone.model.', 'model.')) -> dict[str, Tensor]:
    """Strip a wrapper prefix (e.g. a saved backbone's ``model.``) the model does not use.

    Args:
        state: loaded state dict.
        expected_keys: keys of the target module's state dict.
        prefixes: candidate prefixes, tried in order.

    Returns:
        State dict whose keys have the first fitting prefix removed (or unchanged).
    """
    expected = set(expected_keys)
    if expected & set(state):
        return dict(state)
    for prefix in prefixes:
        stripped = strip_prefix(state, prefix)
        if expected & set(stripped):
            return stripped
    return dict(state)


def load_state_dict_file(path: str) -> dict[str, Tensor]:
    """Read a local weights file on CPU and return its flat state dict.

    Args:
        path: ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` (torch) or ``.safetensors`` file.

    Returns:
        Flat ``{name: tensor}`` state dict.

    Raises:
        WeightsNotFoundError: if ``path`` is not a file.
        CheckpointMismatchError: if the file holds no state dict.
    """
    if not os.path.isfile(path):
        raise WeightsNotFoundError(f'weights file not found: {path!r}')
    return unwrap_state_dict(read_checkpoint(path), source=path)


@dataclass
class StateDictDiff:
    """Differences between a model's state dict and a checkpoint."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatches: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shape_mismatches)


def compare_state_dicts(expected: Mapping[str, Tensor],
                        loaded: Mapping[str, Tensor]) -> StateDictDiff:
    """Keys missing from / unexpected in ``loaded`` and shared keys with different shapes."""
    diff = StateDictDiff(
        missing=sorted(set(expected) - set(loaded)),
        unexpected=sorted(set(loaded) - set(expected)))
    for key in sorted(set(expected) & set(loaded)):
        want, got = tuple(expected[key].shape), tuple(loaded[key].shape)
        if want != got:
            diff.shape_mismatches.append((key, want, got))
    return diff


def _listed(items: list, what: str) -> str:
    head = ', '.join(str(i) for i in items[:_MAX_LISTED])
    more = f', ... (+{len(items) - _MAX_LISTED} more)' if len(items) > _MAX_LISTED else ''
    return f'  {len(items)} {what}: {head}{more}'


def check_state_dict(expected: Mapping[str, Tensor], loaded: Mapping[str, Tensor],
                     model_name: str, source: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless keys and shapes match exactly.

    Args:
        expected: the model's state dict.
        loaded: the checkpoint's state dict.
        model_name: architecture name, for the message.
        source: checkpoint file, for the message.
    """
    diff = compare_state_dicts(expected, loaded)
    if not diff:
        return
    lines = [f'checkpoint {source!r} does not match model {model_name!r}:']
    if diff.missing:
        lines.append(_listed(diff.missing, 'missing keys'))
    if diff.unexpected:
        lines.append(_listed(diff.unexpected, 'unexpected keys'))
    if diff.shape_mismatches:
        shapes = [f'{k} (model {m}, file {f})' for k, m, f in diff.shape_mismatches]
        lines.append(_listed(shapes, 'shape mismatches'))
    lines.append('Check model_name / model_kwargs against the checkpoint.')
    raise CheckpointMismatchError('\n'.join(lines))


def hf_weight_filenames(filename: str) -> list[str]:
    """open_clip's HF lookup order: the safetensors alternative first, then the named file."""
    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        return [HF_SAFE_WEIGHTS_NAME, filename]
    if filename.endswith(('.bin', '.pth')):
        return [filename[:-4] + '.safetensors', filename]
    return [filename]


def find_cached_file(cfg: Mapping[str, str], cache_dir: str | None = None
                     ) -> tuple[str | None, list[str]]:
    """Find an open_clip pretrained config's weights in the local caches (never downloads).

    Looks, in open_clip's order, at ``cfg['file']``, the HF hub cache (``cache_dir`` or the
    HF default) for ``cfg['hf_hub']`` ('org/repo/' or 'org/repo/filename'), then
    ``(cache_dir or ~/.cache/clip)/basename(cfg['url'])``.

    Args:
        cfg: open_clip pretrained config (keys ``file``, ``hf_hub``, ``url``).
        cache_dir: HF hub cache / url download directory.

    Returns:
        (path or None, the locations searched).
    """
    looked: list[str] = []
    if cfg.get('file'):
        looked.append(cfg['file'])
        if os.path.isfile(cfg['file']):
            return cfg['file'], looked
    if cfg.get('hf_hub'):
        from huggingface_hub import constants

        from ovperception.utils.download import cached_hub_file
        repo_id, filename = os.path.split(cfg['hf_hub'])
        root = cache_dir or constants.HF_HUB_CACHE
        looked.append(os.path.join(root, 'models--' + repo_id.replace('/', '--')))
        for name in hf_weight_filenames(filename):
            path = cached_hub_file(repo_id, name, cache_dir)
            if path is not None:
                return path, looked
    if cfg.get('url'):
        from ovperception.utils.download import cached_url_file
        path = os.path.join(cache_dir or os.path.expanduser('~/.cache/clip'),
                            os.path.basename(cfg['url']))
        looked.append(path)
        if cached_url_file(path, url_sha256(cfg['url'])) is not None:
            return path, looked
    return None, looked


def url_sha256(url: str) -> str | None:
    """The SHA-256 (prefix) open_clip's release URLs carry: OpenAI's in the folder name,
    mlfoundations' at the end of the file name."""
    name = os.path.splitext(os.path.basename(url))[0]
    if 'openaipublic' in url:
        return url.rstrip('/').split('/')[-2]
    if 'mlfoundations' in url and '-' in name:
        return name.split('-')[-1]
    return None


def weights_not_found_message(model_name: str, tag: str, looked_in: Iterable[str],
                              reason: str | None = None) -> str:
    """Explain that a pretrained tag is not cached locally, why it cannot be downloaded now
    (``reason``, e.g. ``'HF_HUB_OFFLINE=1 is set'``) and how to fix it."""
    where = ', '.join(looked_in) or '(no cache location)'
    why = f' ({reason})' if reason else ''
    return (
        f"weights for open_clip tag {tag!r} of model {model_name!r} are not in the local cache "
        f"(looked in: {where}), and this environment cannot download them{why}. Fix: connect "
        f"to the internet (or set HF_ENDPOINT, or OVP_RELEASE_MIRROR for URL-only tags, to a "
        f"reachable mirror) and run again, or on a "
        f"machine with internet run `python tools/download_weights.py {model_name} {tag}` "
        f"(then copy the cache directory here), or pass a local file via "
        f"`pretrained=/path/to/file` (`--weights PATH` on the command line).")
