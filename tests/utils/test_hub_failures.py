"""Hub downloads against a misbehaving stand-in hub: corrupt bytes, stalls, drops, 404 and 500
each end within seconds in one line naming the URL and the fix, and leave nothing usable-but-
wrong in the cache (ovperception.utils.hub_files)."""
from __future__ import annotations

import os
import time

import pytest

from ovperception.utils.download import (ChecksumMismatchError, DownloadError,
                                         cached_hub_file, hub_download)
from tests.local_hub import corrupted

REPO = 'ovp-test/tiny'
WEIGHTS = 'open_clip_model.safetensors'
CONFIG = 'open_clip_config.json'
PAYLOAD = bytes(range(256)) * 2048  # 512 KiB


@pytest.fixture
def hub(local_hub, monkeypatch):
    """The local hub serving one weights file and one (git-stored) json file, with 1 s
    timeouts so that stalls end quickly."""
    monkeypatch.setenv('HF_HUB_ETAG_TIMEOUT', '1')
    monkeypatch.setenv('HF_HUB_DOWNLOAD_TIMEOUT', '1')
    local_hub.add(REPO, WEIGHTS, PAYLOAD)
    local_hub.add(REPO, CONFIG, b'{"model_cfg": {"embed_dim": 8}}')
    return local_hub


def _cached_files(cache: str) -> list[str]:
    """Every file under the repository's blobs/ and snapshots/ folders (partials aside)."""
    found = []
    for root, _, names in os.walk(cache):
        found += [os.path.join(root, n) for n in names
                  if ('blobs' in root or 'snapshots' in root) and not n.endswith('.incomplete')]
    return found


def _fails_fast(call, error_type=DownloadError, within_s: float = 4.0) -> str:
    start = time.monotonic()
    with pytest.raises(error_type) as error:
        call()
    assert time.monotonic() - start < within_s
    message = str(error.value)
    assert '\n' not in message and 'Fix:' in message
    return message


@pytest.mark.parametrize('filename', [WEIGHTS, CONFIG])
def test_corrupt_bytes_are_rejected_and_nothing_is_cached(hub, filename):
    hub.fail[f'{REPO}/{filename}'] = 'corrupt'
    message = _fails_fast(lambda: hub_download(REPO, [filename]), ChecksumMismatchError)
    assert filename in message and 'sha' in message
    assert _cached_files(hub.cache_dir) == []
    del hub.fail[f'{REPO}/{filename}']  # healthy again: downloaded and verified
    path = hub_download(REPO, [filename])
    assert open(path, 'rb').read() == hub.files[f'{REPO}/{filename}']


def test_a_damaged_cached_file_is_removed_and_fetched_again(hub):
    path = hub_download(REPO, [WEIGHTS])
    blob = os.path.realpath(path)
    with open(blob, 'wb') as handle:  # same size, flipped bytes
        handle.write(corrupted(PAYLOAD))
    assert cached_hub_file(REPO, WEIGHTS) is None  # checked before use: removed
    assert not os.path.exists(blob)
    gets = len(hub.gets())
    assert open(hub_download(REPO, [WEIGHTS]), 'rb').read() == PAYLOAD
    assert len(hub.gets()) == gets + 1


def test_a_server_that_never_answers_fails_within_the_timeout(hub):
    hub.fail_all = 'stall'
    message = _fails_fast(lambda: hub_download(REPO, [WEIGHTS]))
    assert 'did not answer within 1 s' in message and hub.endpoint.split('//')[1] in message
    assert 'HF_HUB_ETAG_TIMEOUT' in message
    assert len(hub.requests) == 1  # no retries
    assert _cached_files(hub.cache_dir) == []


def test_a_body_that_stalls_fails_within_the_read_timeout(hub):
    hub.fail[f'{REPO}/{WEIGHTS}'] = 'stall_body'
    message = _fails_fast(lambda: hub_download(REPO, [WEIGHTS]), within_s=5.0)
    assert 'sent nothing for 1 s' in message and WEIGHTS in message
    assert _cached_files(hub.cache_dir) == []


def test_a_dropped_transfer_is_one_line_and_the_next_run_resumes(hub):
    hub.fail[f'{REPO}/{WEIGHTS}'] = 'drop'
    message = _fails_fast(lambda: hub_download(REPO, [WEIGHTS]))
    assert 'closed the connection mid-transfer' in message and 'resumes' in message
    assert _cached_files(hub.cache_dir) == []  # only the .incomplete partial stays
    hub.fail[f'{REPO}/{WEIGHTS}'] = 'drop_once'
    hub.range_requests.clear()
    path = hub_download(REPO, [WEIGHTS])
    assert open(path, 'rb').read() == PAYLOAD
    assert hub.range_requests  # the partial was continued, not fetched again from 0


@pytest.mark.parametrize('mode,expected', [('404', 'answered HTTP 404 (no hub there)'),
                                           ('500', 'answered HTTP 500')])
def test_server_errors_report_status_and_url_without_retries(hub, mode, expected):
    hub.fail_all = mode
    message = _fails_fast(lambda: hub_download(REPO, [WEIGHTS]), within_s=2.0)
    assert expected in message and f'{hub.endpoint}/{REPO}/resolve/main/{WEIGHTS}' in message
    assert len(hub.requests) == 1
    assert _cached_files(hub.cache_dir) == []


def test_a_missing_file_names_the_repository(hub):
    message = _fails_fast(lambda: hub_download(REPO, ['nope.bin', 'nope.safetensors']))
    assert 'nope.bin, nope.safetensors' in message and REPO in message
