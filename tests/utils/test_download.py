"""First-use downloads against a local hub on 127.0.0.1: progress, atomicity, checksums,
offline failures (ovperception.utils.download)."""
from __future__ import annotations

import hashlib
import os
import socket
import time

import pytest

from ovperception.utils.download import (ChecksumMismatchError, DownloadError, download_url,
                                         host_reachable, offline_reason, set_offline)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def _leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith('.'))


def test_download_url_writes_atomically_with_progress_and_records_checksum(local_hub, tmp_path,
                                                                          capsys):
    url = local_hub.add_url('sam_tiny.pth', PAYLOAD)
    path = download_url(url, str(tmp_path / 'cache'))
    assert open(path, 'rb').read() == PAYLOAD
    assert 'sam_tiny.pth' in capsys.readouterr().err  # the tqdm progress bar
    record = open(path + '.sha256').read().split()
    assert record == [hashlib.sha256(PAYLOAD).hexdigest(), str(len(PAYLOAD))]
    assert download_url(url, str(tmp_path / 'cache')) == path  # cached: no second request
    assert [r for r in local_hub.requests if r[0] == 'GET'] == [('GET', '/files/sam_tiny.pth')]
    with open(path, 'r+b') as handle:  # damage the cached file: the recorded hash catches it
        handle.write(b'x')
    with pytest.raises(ChecksumMismatchError, match='SHA-256'):
        download_url(url, str(tmp_path / 'cache'))


def test_checksum_mismatch_is_an_error_and_keeps_nothing(local_hub, tmp_path):
    url = local_hub.add_url('sam_vit_b_01ec64.pth', PAYLOAD)
    cache = tmp_path / 'cache'
    with pytest.raises(ChecksumMismatchError, match='01ec64'):
        download_url(url, str(cache), expected_sha256='01ec64')
    assert os.listdir(cache) == []
    good = hashlib.sha256(PAYLOAD).hexdigest()
    assert open(download_url(url, str(cache), expected_sha256=good[:6]), 'rb').read() == PAYLOAD


def test_interrupted_download_leaves_no_file(local_hub, tmp_path):
    url = local_hub.add_url('big.pth', PAYLOAD)
    local_hub.truncate.add('/files/big.pth')
    cache = tmp_path / 'cache'
    with pytest.raises(DownloadError):
        download_url(url, str(cache))
    assert os.listdir(cache) == []  # neither big.pth nor a .part file


def test_offline_reasons_are_found_fast(local_hub, monkeypatch):
    assert offline_reason(local_hub.endpoint) is None
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    assert offline_reason(local_hub.endpoint) == 'HF_HUB_OFFLINE=1 is set'
    monkeypatch.setenv('HF_HUB_OFFLINE', '0')
    set_offline(True)
    try:
        assert offline_reason(local_hub.endpoint) == '--offline was given'
    finally:
        set_offline(False)
    with socket.socket() as sock:  # a port nobody listens on: no route
        sock.bind(('127.0.0.1', 0))
        closed = f'http://127.0.0.1:{sock.getsockname()[1]}'
    start = time.monotonic()
    assert offline_reason(closed).startswith('no route to 127.0.0.1')
    assert not host_reachable('https://huggingface.co')  # the test guard blocks the internet
    assert time.monotonic() - start < 2.0
