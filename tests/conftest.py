"""Shared test fixtures: offline guard, seeding, tiny models.

No test may reach the network: every known download entry point is replaced by
a function that raises at once, so a test that tries to download fails loudly
instead of hanging.
"""
from __future__ import annotations

import os
import socket

import pytest
import torch

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


class DownloadAttempted(RuntimeError):
    """Raised when a test tries to download anything."""


def _refuse_download(*args, **kwargs):
    raise DownloadAttempted(f'a test tried to download: args={args!r} kwargs={kwargs!r}')


LOOPBACK_HOSTS = ('127.0.0.1', '::1', 'localhost', None)
_REAL_CONNECT = socket.socket.connect
_REAL_CONNECT_EX = socket.socket.connect_ex
_REAL_GETADDRINFO = socket.getaddrinfo
try:
    from huggingface_hub import hf_hub_download as _REAL_HF_HUB_DOWNLOAD
except ImportError:  # pragma: no cover - installed with open_clip
    _REAL_HF_HUB_DOWNLOAD = None


def _is_loopback(host: object) -> bool:
    return host in LOOPBACK_HOSTS or host == socket.gethostname() or (
        isinstance(host, str) and host.startswith('127.'))


def _loopback_connect(sock: socket.socket, address, *args):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise DownloadAttempted(f'a test tried to connect to {address!r}')
    return _REAL_CONNECT(sock, address, *args)


def _loopback_connect_ex(sock: socket.socket, address, *args):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise DownloadAttempted(f'a test tried to connect to {address!r}')
    return _REAL_CONNECT_EX(sock, address, *args)


def _loopback_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
        raise DownloadAttempted(f'a test tried to resolve {host!r}')
    return _REAL_GETADDRINFO(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def offline_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every known download entry point raise, and every socket connection that does
    not go to this machine (127.0.0.1 / ::1): the local test hub of :func:`local_hub` is the
    only server a test can reach."""
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(socket.socket, 'connect', _loopback_connect)
    monkeypatch.setattr(socket.socket, 'connect_ex', _loopback_connect_ex)
    monkeypatch.setattr(socket, 'getaddrinfo', _loopback_getaddrinfo)
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', _refuse_download)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', _refuse_download)
    monkeypatch.setattr(torch.hub, 'load', _refuse_download)
    try:
        import open_clip.factory as oc_factory
        import open_clip.pretrained as oc_pretrained
    except ImportError:  # pragma: no cover - open_clip is a core dependency
        return
    for module in (oc_factory, oc_pretrained):
        for name in ('download_pretrained', 'download_pretrained_from_hf',
                     'download_pretrained_from_url'):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _refuse_download)
    try:
        import huggingface_hub
        monkeypatch.setattr(huggingface_hub, 'hf_hub_download', _refuse_download)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(autouse=True)
def seed_everything() -> None:
    """Seed torch and numpy so that tiny random models are reproducible."""
    import numpy as np
    torch.manual_seed(0)
    np.random.seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests without CUDA and ``weights`` tests without $OVP_WEIGHTS_DIR."""
    has_cuda = torch.cuda.is_available()
    weights_dir = os.environ.get('OVP_WEIGHTS_DIR')
    for item in items:
        if 'gpu' in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason='needs a CUDA device'))
        if 'weights' in item.keywords and not (weights_dir and os.path.isdir(weights_dir)):
            item.add_marker(pytest.mark.skip(reason='needs real weights in $OVP_WEIGHTS_DIR'))


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: training loops of tiny models are many small ops,
    which extra intra-op threads only slow down (badly so on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def local_hub(monkeypatch: pytest.MonkeyPatch, offline_guard, tmp_path):
    """A Hugging Face hub stand-in on 127.0.0.1 (``HF_ENDPOINT`` points at it), with the hub
    download functions and online mode restored; every other address stays blocked.

    Yields a :class:`tests.local_hub.LocalHub`: ``add(repo_id, filename, data)``,
    ``add_url(path, data)``, ``url(path)``; its HF cache folder is ``hub.cache_dir``.
    """
    import huggingface_hub
    from huggingface_hub import constants

    from tests.local_hub import LocalHub
    with LocalHub(str(tmp_path / 'hf_cache')) as hub:
        monkeypatch.setenv('HF_HUB_OFFLINE', '0')
        monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
        monkeypatch.setattr(constants, 'ENDPOINT', hub.endpoint)
        monkeypatch.setattr(constants, 'HUGGINGFACE_CO_URL_TEMPLATE',
                            hub.endpoint + '/{repo_id}/resolve/{revision}/{filename}')
        monkeypatch.setattr(constants, 'HF_HUB_CACHE', hub.cache_dir)
        monkeypatch.setattr(huggingface_hub, 'hf_hub_download', _REAL_HF_HUB_DOWNLOAD)
        yield hub
