"""First-use downloads against a local hub on 127.0.0.1: progress, atomicity, checksums,
offline failures (ovperception.utils.download)."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from ovperception.utils.download import (ChecksumMismatchError, DownloadError, download_url,
                                         host_reachable, offline_reason, set_offline)
from tests.local_hub import closed_url

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
    assert download_url(url, str(tmp_path / 'cache')) == path  # removed and fetched again
    assert open(path, 'rb').read() == PAYLOAD
    assert len([r for r in local_hub.requests if r[0] == 'GET']) == 2


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
    closed = closed_url()  # a port nobody listens on: no route
    start = time.monotonic()
    assert offline_reason(closed).startswith('no route to 127.0.0.1')
    assert not host_reachable('https://huggingface.co')  # the test guard blocks the internet
    assert time.monotonic() - start < 2.0


@pytest.fixture
def quick_timeouts(monkeypatch):
    monkeypatch.setenv('HF_HUB_ETAG_TIMEOUT', '1')
    monkeypatch.setenv('HF_HUB_DOWNLOAD_TIMEOUT', '1')


def _one_line_within(call, seconds: float, error_type=DownloadError) -> str:
    start = time.monotonic()
    with pytest.raises(error_type) as error:
        call()
    assert time.monotonic() - start < seconds
    assert '\n' not in str(error.value) and 'Fix:' in str(error.value)
    return str(error.value)


@pytest.mark.parametrize('mode,expected', [
    ('stall', 'accepted the connection but sent nothing for 1 s'),
    ('404', 'answered HTTP 404'), ('500', 'answered HTTP 500'),
    ('corrupt', 'not the expected')])
def test_release_url_failures_are_one_line_fast_and_leave_nothing(local_hub, tmp_path,
                                                                  quick_timeouts, mode,
                                                                  expected):
    url = local_hub.add_url('sam_vit_b_01ec64.pth', PAYLOAD)
    local_hub.fail['/files/sam_vit_b_01ec64.pth'] = mode
    cache = tmp_path / 'cache'
    message = _one_line_within(
        lambda: download_url(url, str(cache), expected_sha256=hashlib.sha256(PAYLOAD).hexdigest()),
        4.0, ChecksumMismatchError if mode == 'corrupt' else DownloadError)
    assert expected in message and url in message
    assert os.listdir(cache) == []
    assert len(local_hub.gets()) == 1  # no retries


def test_a_dropped_release_download_keeps_its_partial_and_resumes(local_hub, tmp_path,
                                                                  quick_timeouts):
    url = local_hub.add_url('sam_vit_b_01ec64.pth', PAYLOAD)
    local_hub.fail['/files/sam_vit_b_01ec64.pth'] = 'drop'
    cache = tmp_path / 'cache'
    good = hashlib.sha256(PAYLOAD).hexdigest()
    message = _one_line_within(lambda: download_url(url, str(cache), expected_sha256=good), 4.0)
    assert 'closed the connection mid-transfer' in message and 'the next run resumes' in message
    assert _leftovers(cache) == ['.sam_vit_b_01ec64.pth.part']  # only the partial file
    del local_hub.fail['/files/sam_vit_b_01ec64.pth']
    path = download_url(url, str(cache), expected_sha256=good)
    assert open(path, 'rb').read() == PAYLOAD and os.listdir(cache) == ['sam_vit_b_01ec64.pth']
    assert local_hub.range_requests == ['/files/sam_vit_b_01ec64.pth']


def test_release_mirror_serves_release_urls(local_hub, tmp_path, monkeypatch):
    from ovperception.models.refiners import sam
    from ovperception.utils.download import release_url
    official = sam.SAM_CHECKPOINT_URLS['vit_b']
    assert release_url(official, 'http://m/w/') == (
        'http://m/w/dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth')
    local_hub.add_url('dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth', PAYLOAD)
    monkeypatch.setitem(sam.SAM_CHECKPOINT_SHA256, 'vit_b', hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setenv('OVP_RELEASE_MIRROR', local_hub.url('files'))  # the variable ...
    path = sam.official_sam_checkpoint('vit_b', str(tmp_path / 'a'))
    assert open(path, 'rb').read() == PAYLOAD
    monkeypatch.delenv('OVP_RELEASE_MIRROR')  # ... and the argument
    path = sam.official_sam_checkpoint('vit_b', str(tmp_path / 'b'), mirror=local_hub.url('files'))
    assert open(path, 'rb').read() == PAYLOAD
    assert local_hub.gets() == ['/files/dl.fbaipublicfiles.com/segment_anything/'
                                'sam_vit_b_01ec64.pth'] * 2


def test_release_mirror_option_of_the_tools(local_hub, tmp_path, monkeypatch):
    from tests.scripts import load_script
    monkeypatch.delenv('OVP_RELEASE_MIRROR', raising=False)
    tool = load_script('tools/download_weights.py')
    from ovperception.models.refiners import sam
    local_hub.add_url('dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth', PAYLOAD)
    monkeypatch.setitem(sam.SAM_CHECKPOINT_SHA256, 'vit_l', hashlib.sha256(PAYLOAD).hexdigest())
    try:
        assert tool.main(['--sam', 'vit_l', '--cache-dir', str(tmp_path),
                          '--release-mirror', local_hub.url('files')]) == 0
    finally:  # the tool set it in os.environ; monkeypatch.delenv would restore it afterwards
        os.environ.pop('OVP_RELEASE_MIRROR', None)
    assert open(tmp_path / 'sam_vit_l_0b3195.pth', 'rb').read() == PAYLOAD
