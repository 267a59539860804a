"""Cached weights are hashed once, not at every start: a verification stamp
(``NAME.verified``: size, mtime_ns, inode, digest) lets later starts skip the hash while the
file is unchanged; any change, a broken stamp or ``OVP_VERIFY_WEIGHTS=full`` means a full
hash (ovperception.utils.file_identity, download, hub_files)."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from ovperception.utils import atomic, download, file_identity, hub_files
from ovperception.utils.download import cached_url_file, download_url, hub_download
from tests.local_hub import corrupted

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
HOUR_NS = 3600 * 10**9


def _age(path: str, by_ns: int = HOUR_NS) -> None:
    """Move ``path``'s mtime into the past (a file written just now is never stamped)."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - by_ns))


@pytest.fixture
def sha_calls(monkeypatch) -> list[str]:
    """Paths hashed by the release-URL checks (``download.sha256_of``)."""
    calls: list[str] = []
    real = download.sha256_of

    def counting(path: str) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(download, 'sha256_of', counting)
    return calls


@pytest.fixture
def release_file(local_hub, tmp_path) -> tuple[str, str]:
    """(url, cached path) of a release file downloaded with its SHA-256, aged an hour."""
    url = local_hub.add_url('sam_vit_b_01ec64.pth', PAYLOAD)
    path = download_url(url, str(tmp_path / 'cache'), expected_sha256=SHA256, progress=False)
    _age(path)
    return url, path


def test_the_second_start_does_not_hash(release_file, sha_calls):
    _, path = release_file
    assert cached_url_file(path, SHA256) == path  # first start after the download: hashed
    assert len(sha_calls) == 1
    stamp = json.load(open(path + '.verified'))
    stat = os.stat(path)
    assert stamp == dict(size=stat.st_size, mtime_ns=stat.st_mtime_ns, inode=stat.st_ino,
                         algorithm='sha256', digest=SHA256)
    assert cached_url_file(path, SHA256) == path  # later starts: the stamp answers
    assert cached_url_file(path, SHA256[:8]) == path  # (a prefix as in SAM's file names)
    assert len(sha_calls) == 1


def test_a_stamp_for_another_hash_is_not_trusted(release_file, sha_calls):
    _, path = release_file
    cached_url_file(path, SHA256)
    assert cached_url_file(path, 'ab' * 32) is None  # hashed again, refused, removed
    assert len(sha_calls) == 2
    assert not os.path.exists(path) and not os.path.exists(path + '.verified')


def test_a_touched_file_is_hashed_again_and_kept(release_file, sha_calls):
    _, path = release_file
    cached_url_file(path, SHA256)
    _age(path, HOUR_NS // 2)  # touched: same bytes, new mtime
    assert cached_url_file(path, SHA256) == path
    assert len(sha_calls) == 2
    assert json.load(open(path + '.verified'))['mtime_ns'] == os.stat(path).st_mtime_ns
    assert cached_url_file(path, SHA256) == path and len(sha_calls) == 2  # stamped again


@pytest.mark.parametrize('damage', ['same_size', 'truncated', 'replaced'])
def test_a_changed_damaged_file_is_hashed_removed_and_downloaded_again(
        local_hub, release_file, sha_calls, damage):
    url, path = release_file
    cached_url_file(path, SHA256)
    stamped = os.stat(path)
    if damage == 'same_size':  # flipped bytes in place, the mtime moves
        with open(path, 'r+b') as handle:
            handle.write(corrupted(PAYLOAD))
    elif damage == 'truncated':
        os.truncate(path, len(PAYLOAD) // 2)
    else:  # another file of the same size put in its place, with the stamped mtime
        replacement = path + '.new'
        open(replacement, 'wb').write(corrupted(PAYLOAD))
        os.utime(replacement, ns=(stamped.st_atime_ns, stamped.st_mtime_ns))
        os.replace(replacement, path)
    assert cached_url_file(path, SHA256) is None  # hashed, refused, removed with its stamp
    assert len(sha_calls) == 2
    assert not os.path.exists(path) and not os.path.exists(path + '.verified')
    gets = len(local_hub.gets())
    assert download_url(url, os.path.dirname(path), expected_sha256=SHA256,
                        progress=False) == path
    assert open(path, 'rb').read() == PAYLOAD and len(local_hub.gets()) == gets + 1


def test_bit_rot_that_keeps_size_and_mtime_needs_a_forced_check(release_file, sha_calls,
                                                                monkeypatch):
    _, path = release_file
    cached_url_file(path, SHA256)
    stat = os.stat(path)
    with open(path, 'r+b') as handle:  # damage that keeps size, mtime and inode
        handle.write(corrupted(PAYLOAD))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cached_url_file(path, SHA256) == path and len(sha_calls) == 1  # the trade-off
    monkeypatch.setenv('OVP_VERIFY_WEIGHTS', 'full')
    assert cached_url_file(path, SHA256) is None and len(sha_calls) == 2  # caught
    assert not os.path.exists(path)


def test_forcing_full_verification_hashes_at_every_start(release_file, sha_calls,
                                                         monkeypatch):
    _, path = release_file
    cached_url_file(path, SHA256)
    download.set_full_verification()
    try:
        assert file_identity.full_verification_forced()
        assert cached_url_file(path, SHA256) == path
        assert cached_url_file(path, SHA256) == path
        assert len(sha_calls) == 3
    finally:
        download.set_full_verification(False)
    assert cached_url_file(path, SHA256) == path and len(sha_calls) == 3


def test_the_tool_option_forces_full_verification(local_hub, tmp_path, monkeypatch,
                                                  sha_calls):
    from ovperception.models.refiners import sam
    from tests.scripts import load_script
    tool = load_script('tools/download_weights.py')
    monkeypatch.delenv('OVP_RELEASE_MIRROR', raising=False)
    monkeypatch.delenv('OVP_VERIFY_WEIGHTS', raising=False)
    monkeypatch.setitem(sam.SAM_CHECKPOINT_SHA256, 'vit_b', SHA256)
    local_hub.add_url('dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth', PAYLOAD)
    argv = ['--sam', 'vit_b', '--cache-dir', str(tmp_path), '--release-mirror',
            local_hub.url('files')]
    try:
        assert tool.main(argv) == 0  # downloaded (the partial is hashed)
        _age(str(tmp_path / 'sam_vit_b_01ec64.pth'))
        assert tool.main(argv) == 0 and tool.main(argv) == 0  # hashed and stamped, then not
        assert len(sha_calls) == 2
        assert tool.main(argv + ['--verify-full']) == 0
        assert len(sha_calls) == 3
    finally:  # the tool set them in os.environ
        os.environ.pop('OVP_RELEASE_MIRROR', None)
        os.environ.pop('OVP_VERIFY_WEIGHTS', None)


@pytest.mark.parametrize('stamp', [b'', b'{not json', b'[1, 2]', b'{"size": "x"}',
                                   b'{"size": 1, "mtime_ns": 2, "inode": 3}', 'folder'])
def test_a_broken_stamp_means_a_full_hash(release_file, sha_calls, stamp):
    _, path = release_file
    if stamp == 'folder':  # unreadable as a file, and cannot be replaced by one
        os.mkdir(path + '.verified')
    else:
        open(path + '.verified', 'wb').write(stamp)
    assert cached_url_file(path, SHA256) == path
    assert len(sha_calls) == 1
    if stamp != 'folder':  # rewritten whole
        assert json.load(open(path + '.verified'))['digest'] == SHA256
        assert cached_url_file(path, SHA256) == path and len(sha_calls) == 1


def test_the_stamp_is_written_atomically(release_file, sha_calls, monkeypatch):
    _, path = release_file
    cached_url_file(path, SHA256)
    before = open(path + '.verified', 'rb').read()
    _age(path, HOUR_NS // 2)

    def failing_replace(source: str, target: str) -> None:
        raise OSError('disk full')

    monkeypatch.setattr(atomic.os, 'replace', failing_replace)
    assert cached_url_file(path, SHA256) == path  # a stamp that cannot be written: no error
    monkeypatch.undo()
    assert open(path + '.verified', 'rb').read() == before  # the old stamp, whole
    assert sorted(os.listdir(os.path.dirname(path))) == ['sam_vit_b_01ec64.pth',
                                                         'sam_vit_b_01ec64.pth.verified']


def test_a_file_written_just_now_is_not_stamped(local_hub, tmp_path, sha_calls):
    url = local_hub.add_url('fresh.pth', PAYLOAD)
    path = download_url(url, str(tmp_path), expected_sha256=SHA256, progress=False)
    assert cached_url_file(path, SHA256) == path
    assert not os.path.exists(path + '.verified')  # a write in the same tick could follow
    assert cached_url_file(path, SHA256) == path
    assert len(sha_calls) == 3  # the download's check, then each start


def test_hub_files_skip_the_hash_at_the_next_start(local_hub, monkeypatch):
    repo, name = 'ovp-test/tiny', 'open_clip_model.safetensors'
    local_hub.add(repo, name, PAYLOAD)
    path = hub_download(repo, [name])
    blob = os.path.realpath(path)
    _age(blob)
    calls: list[str] = []
    real = hub_files.file_digest
    monkeypatch.setattr(hub_files, 'file_digest',
                        lambda file, algorithm: calls.append(file) or real(file, algorithm))

    def start() -> str | None:  # a new process: nothing verified in memory yet
        monkeypatch.setattr(hub_files, '_VERIFIED', set())
        return hub_files.cached_hub_file(repo, name)

    assert start() == path and len(calls) == 1
    assert json.load(open(blob + '.verified'))['digest'] == os.path.basename(blob)
    assert start() == path and len(calls) == 1  # the stamp answers
    monkeypatch.setenv('OVP_VERIFY_WEIGHTS', 'full')
    assert start() == path and len(calls) == 2
    monkeypatch.delenv('OVP_VERIFY_WEIGHTS')
    with open(blob, 'r+b') as handle:  # damaged in place: the mtime moves
        handle.write(corrupted(PAYLOAD))
    assert start() is None and len(calls) == 3
    assert not os.path.exists(blob) and not os.path.exists(blob + '.verified')
    assert open(hub_download(repo, [name]), 'rb').read() == PAYLOAD
