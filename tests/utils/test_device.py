"""resolve_device: auto picks what exists; unknown or absent devices are one-line errors."""
from __future__ import annotations

import pytest
import torch

from ovperception.utils.device import resolve_device


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    assert resolve_device('auto') == resolve_device(None) == 'cpu'
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: True)
    assert resolve_device('auto') == 'mps'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_device('auto') == 'cuda'


def test_absent_or_unknown_devices_are_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    assert resolve_device('CPU') == 'cpu'
    for name, message in (('cuda', 'no CUDA device'), ('cuda:3', 'no CUDA device'),
                          ('mps', 'MPS is not available'), ('tpu', 'unknown device')):
        with pytest.raises(ValueError, match=message):
            resolve_device(name)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert resolve_device('cuda:0') == 'cuda:0'
    with pytest.raises(ValueError, match='has 1 CUDA device'):
        resolve_device('cuda:1')
