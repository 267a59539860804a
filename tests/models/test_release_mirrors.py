"""Every release-URL weight file (SAM, SAM 2, Talk2DINO; open_clip's URL-only tags share its
offline check) takes one path (:func:`ovperception.utils.download.fetch_release_file`): with a
release mirror set, the
offline check probes the mirror it downloads from, not the origin; a mirror that is down is a
one-line error naming it; ``--offline`` stops every one of them before any request.

The origin is a closed port on 127.0.0.1 and the mirror the local test server (never the
internet)."""
from __future__ import annotations

import hashlib
import io
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from ovperception.models.clip.weights import WeightsNotFoundError
from tests.local_hub import closed_url

SAM2_CONFIG = 'configs/sam2/sam2_hiera_t.yaml'
PAYLOAD = bytes(range(256)) * 64  # 16 KiB stands in for every release file but SAM 2's load


@dataclass
class Release:
    """One release-URL downloader: ``point(monkeypatch, url, sha256)`` makes its release
    live at ``url``; ``fetch(cache_dir)`` runs its first-use download."""

    path: str
    point: Callable[[pytest.MonkeyPatch, str, str], None]
    fetch: Callable[[str], str]


def _sam() -> Release:
    from ovperception.models.refiners import sam

    def point(monkeypatch, url, sha256):
        monkeypatch.setitem(sam.SAM_CHECKPOINT_URLS, 'vit_b', url)
        monkeypatch.setitem(sam.SAM_CHECKPOINT_SHA256, 'vit_b', sha256)
    return Release('segment_anything/sam_vit_b_01ec64.pth', point,
                   lambda cache: sam.official_sam_checkpoint('vit_b', cache))


def _sam2() -> Release:
    from ovperception.models.refiners import sam2_masks

    def point(monkeypatch, url, sha256):  # no published checksum: recorded at download
        monkeypatch.setitem(sam2_masks.SAM2_CHECKPOINT_URLS, SAM2_CONFIG, url)
    return Release('segment_anything_2/072824/sam2_hiera_tiny.pt', point,
                   lambda cache: sam2_masks.official_sam2_checkpoint(SAM2_CONFIG, cache))


def _talk2dino() -> Release:
    from ovperception.models.segmentation import talk2dino

    def point(monkeypatch, url, sha256):
        monkeypatch.setitem(talk2dino.RELEASED_PROJECTIONS, 'vitb_mlp_infonce', (url, sha256))
    return Release('lorebianchi98/Talk2DINO/c0ffee/weights/vitb_mlp_infonce.pth', point,
                   lambda cache: talk2dino.projection_file('vitb_mlp_infonce', cache))


def _open_clip_url_tag() -> Release:
    """An open_clip tag with only a release URL (no hub repository)."""
    from ovperception.models.clip import open_clip

    def point(monkeypatch, url, sha256):  # a URL that carries no checksum
        monkeypatch.setattr(open_clip, 'pretrained_cfg', lambda model, tag: {'url': url})
    return Release('example-release/clip/vit_b_16.pt', point,
                   lambda cache: open_clip.download_pretrained_weights('ViT-B-16', 'url-only',
                                                                       cache))


RELEASES = {'sam': _sam, 'sam2': _sam2, 'talk2dino': _talk2dino,
            'open_clip_url_tag': _open_clip_url_tag}


def _origin_and_mirror_paths(release: Release) -> tuple[str, str]:
    """(origin URL on a closed port, the path the mirror serves it under: ``HOST:PORT/PATH``)."""
    origin = f'{closed_url()}/{release.path}'
    parts = urllib.parse.urlsplit(origin)
    return origin, f'{parts.netloc}{parts.path}'


@pytest.mark.parametrize('name', sorted(RELEASES))
def test_release_comes_from_the_mirror_while_the_origin_is_down(local_hub, tmp_path,
                                                                monkeypatch, name):
    release = RELEASES[name]()
    origin, mirrored = _origin_and_mirror_paths(release)
    release.point(monkeypatch, origin, hashlib.sha256(PAYLOAD).hexdigest())
    local_hub.add_url(mirrored, PAYLOAD)
    monkeypatch.setenv('OVP_RELEASE_MIRROR', local_hub.url('files'))
    path = release.fetch(str(tmp_path / 'cache'))
    assert open(path, 'rb').read() == PAYLOAD
    assert local_hub.gets() == [f'/files/{mirrored}']
    assert release.fetch(str(tmp_path / 'cache')) == path  # cached and verified: no request
    assert len(local_hub.gets()) == 1


@pytest.mark.parametrize('name', sorted(RELEASES))
def test_a_down_mirror_is_one_line_naming_it(local_hub, tmp_path, monkeypatch, name):
    release = RELEASES[name]()
    origin, mirrored = _origin_and_mirror_paths(release)
    release.point(monkeypatch, origin, hashlib.sha256(PAYLOAD).hexdigest())
    mirror = f'{closed_url()}/weights'
    monkeypatch.setenv('OVP_RELEASE_MIRROR', mirror)
    cache = tmp_path / 'cache'
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as error:
        release.fetch(str(cache))
    assert time.monotonic() - start < 2.5
    message = str(error.value)
    assert '\n' not in message and 'Fix:' in message
    assert f'{mirror}/{mirrored}' in message and 'OVP_RELEASE_MIRROR' in message
    assert not cache.exists() or os.listdir(cache) == []


@pytest.mark.parametrize('name', sorted(RELEASES))
def test_offline_flag_stops_every_release_download(local_hub, tmp_path, monkeypatch, name):
    release = RELEASES[name]()
    origin, mirrored = _origin_and_mirror_paths(release)
    release.point(monkeypatch, origin, hashlib.sha256(PAYLOAD).hexdigest())
    local_hub.add_url(mirrored, PAYLOAD)
    monkeypatch.setenv('OVP_RELEASE_MIRROR', local_hub.url('files'))  # reachable, but ...
    monkeypatch.setenv('OVP_OFFLINE', '1')  # ... --offline
    with pytest.raises(WeightsNotFoundError, match='--offline was given'):
        release.fetch(str(tmp_path / 'cache'))
    assert local_hub.requests == []


def test_sam2_official_checkpoint_from_the_mirror_is_verified_and_loads(local_hub, tmp_path,
                                                                        monkeypatch):
    """``checkpoint='official'`` with the origin down and a mirror up: downloaded from the
    mirror into the torch-hub cache, its SHA-256 recorded, loaded strictly; a damaged cached
    file is removed and fetched again; the download tool's ``--sam2`` takes the same path."""
    from ovperception.models.refiners import SAM2Wrapper, sam2_masks
    source = sam2_masks.build_sam2_model(SAM2_CONFIG, None, 'tiny')
    buffer = io.BytesIO()
    torch.save({'model': source.state_dict()}, buffer)
    payload = buffer.getvalue()
    release = _sam2()
    origin, mirrored = _origin_and_mirror_paths(release)
    release.point(monkeypatch, origin, '')
    local_hub.add_url(mirrored, payload)
    monkeypatch.setenv('OVP_RELEASE_MIRROR', local_hub.url('files'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    loaded = SAM2Wrapper(SAM2_CONFIG, checkpoint='official', overrides='tiny')
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    path = tmp_path / 'torch' / 'hub' / 'checkpoints' / 'sam2_hiera_tiny.pt'
    assert path.read_bytes() == payload
    digest = hashlib.sha256(payload).hexdigest()
    assert (tmp_path / 'torch/hub/checkpoints/sam2_hiera_tiny.pt.sha256').read_text().split() \
        == [digest, str(len(payload))]
    damaged = bytearray(payload)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, other bytes: caught by the recorded hash
    SAM2Wrapper(SAM2_CONFIG, checkpoint='official', overrides='tiny')
    assert path.read_bytes() == payload
    assert local_hub.gets() == [f'/files/{mirrored}'] * 2
    from tests.scripts import load_script
    tool = load_script('tools/download_weights.py')
    monkeypatch.delenv('OVP_RELEASE_MIRROR')
    try:
        assert tool.main(['--sam2', SAM2_CONFIG, '--cache-dir', str(tmp_path / 'tool'),
                          '--release-mirror', local_hub.url('files')]) == 0
    finally:  # the tool set it in os.environ
        os.environ.pop('OVP_RELEASE_MIRROR', None)
    assert (tmp_path / 'tool' / 'sam2_hiera_tiny.pt').read_bytes() == payload
    assert len(local_hub.gets()) == 3


def test_download_tool_checks_sam2_configs_before_importing_torch(capsys):
    from tests.scripts import load_script
    tool = load_script('tools/download_weights.py')
    assert tool.parse_args(['--sam2', SAM2_CONFIG]).sam2 == SAM2_CONFIG
    for argv in (['--sam2', 'configs/sam2/sam2_hiera_xl.yaml'], ['--sam2', SAM2_CONFIG, '--sam',
                                                                 'vit_b']):
        with pytest.raises(SystemExit) as error:
            tool.parse_args(argv)
        assert error.value.code == 2
    assert 'has no official checkpoint' in capsys.readouterr().err
