"""Checkpoint reading with ``weights_only=True`` and an error that says what the file holds.

``torch.load(weights_only=True)`` fails with the same long message for a file that is no
checkpoint at all, a truncated download and a pickle that would run code, and that message
suggests ``weights_only=False``. :func:`safe_torch_load` reports instead what was found:
an empty file, random bytes (not a checkpoint), an incomplete zip archive (corrupted or
truncated), or code/objects (the global it names), which is refused for safety. It never
suggests loading with ``weights_only=False``.
"""
from __future__ import annotations

import os
import pickletools
import zipfile

import torch

#: Globals a plain-tensor checkpoint may reference (module prefixes).
_DATA_GLOBALS = ('torch.', 'collections.OrderedDict', '_codecs.encode', 'numpy.')


class CheckpointReadError(RuntimeError):
    """A weights file could not be read as tensors and plain data."""


def _pickle_globals(data: bytes) -> list[str]:
    """``module.name`` of every global a pickle stream references, read without running it."""
    found: list[str] = []
    strings: list[str] = []
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name == 'GLOBAL':
                found.append(str(argument).replace(' ', '.'))
            elif opcode.name == 'STACK_GLOBAL' and len(strings) >= 2:
                found.append(f'{strings[-2]}.{strings[-1]}')
            elif isinstance(argument, str):
                strings.append(argument)
    except Exception:  # a truncated stream: what was read so far
        pass
    return found


def _code_globals(path: str) -> list[str]:
    """Globals other than tensor/data types referenced by the file's pickle(s)."""
    streams: list[bytes] = []
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            streams = [archive.read(n) for n in archive.namelist() if n.endswith('.pkl')]
    else:
        with open(path, 'rb') as handle:
            streams = [handle.read()]
    return [name for stream in streams for name in _pickle_globals(stream)
            if not name.startswith(_DATA_GLOBALS)]


def describe_load_failure(path: str, error: BaseException) -> str:
    """One sentence naming what ``path`` holds, given the ``weights_only`` load ``error``."""
    size = os.path.getsize(path)
    if size == 0:
        return f'{path!r} is empty (0 bytes): not a checkpoint; download or save it again'
    code = _code_globals(path)
    if code:
        return (f'{path!r} contains code or Python objects ({", ".join(sorted(set(code))[:3])})'
                ', not only tensors: refused for safety (ovperception loads weights with '
                'weights_only=True); use a state-dict or .safetensors release of these weights')
    with open(path, 'rb') as handle:
        head = handle.read(4)
    if head.startswith(b'PK'):
        return (f'{path!r} is a zip archive that torch cannot read (truncated or corrupted: '
                f'{str(error).splitlines()[0][:120]}); download or save it again')
    if head[:1] == b'\x80':
        return (f'{path!r} is a pickle that holds no tensors ovperception can read '
                f'({type(error).__name__}); save the weights with torch.save(state_dict)')
    return (f'{path!r} is not a checkpoint ({size} bytes that are neither a torch zip archive, '
            'a pickle nor safetensors; first bytes {head!r})').replace('{head!r}', repr(head))


def safe_torch_load(path: str) -> object:
    """``torch.load(path, map_location='cpu', weights_only=True)``; what the file holds on error.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CheckpointReadError: see :func:`describe_load_failure`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        raise CheckpointReadError(describe_load_failure(path, error)) from error


def load_checkpoint_safely(path: str) -> dict:
    """A checkpoint read by :func:`safe_torch_load` (tensors and plain data only)."""
    return safe_torch_load(path)
