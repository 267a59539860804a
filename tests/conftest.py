"""Shared test fixtures: offline guard, seeding, tiny models.

No test may reach the network: every known download entry point is replaced by
a function that raises at once, so a test that tries to download fails loudly
instead of hanging.
"""
from __future__ import annotations

import os

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


@pytest.fixture(autouse=True)
def offline_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every known download entry point raise."""
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
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
