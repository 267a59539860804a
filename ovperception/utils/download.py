"""Downloading weights on first use: offline detection, atomic verified downloads, mirrors.

* :func:`offline_reason` says, within about a second and a half, why nothing can be
  downloaded now (``HF_HUB_OFFLINE=1`` / ``OVP_OFFLINE=1`` / ``--offline``, or no route to the
  server), or None when a download may start;
* :func:`download_url` streams a URL into a cache folder with a progress bar, through a
  temporary file in the same folder that is renamed only once complete and verified: an
  interrupted download never leaves a truncated file under the final name;
* checksums: an expected SHA-256 (full or a prefix, as in open_clip's and SAM's file names) is
  checked before the rename; without one, the size and SHA-256 of the first download are
  recorded next to the file (``NAME.sha256``) and every later use checks the file against them;
  a damaged cached file is removed and downloaded again;
* a cached file's successful check is stamped next to it (``NAME.verified``: size, mtime,
  inode and digest, :mod:`ovperception.utils.file_identity`); while these are unchanged, later
  starts skip the hash. ``OVP_VERIFY_WEIGHTS=full`` (or ``--verify-full`` of
  ``tools/download_weights.py``) hashes every file anyway, to catch damage that kept the size
  and mtime (bit rot);
* release URLs (SAM, open_clip's URL-only tags) go to a mirror when ``OVP_RELEASE_MIRROR``
  (or ``--release-mirror``) is set: ``https://HOST/PATH`` is fetched from
  ``MIRROR/HOST/PATH`` (the layout ``wget -x URL`` creates in the mirror's root);
* :func:`fetch_release_file` is the one first-use path of every release-URL weight file
  (SAM, SAM 2, Talk2DINO): the verified cached file, else the offline check of the very URL
  the download would fetch (the mirror's when one is set, never the origin's then), a
  :class:`WeightsNotFoundError` naming that URL and the fix, else :func:`download_url`;
  :func:`release_unavailable_reason` is that check alone (open_clip's URL-only tags);
* hub files: :mod:`ovperception.utils.hub_files` (verified against the hub's ETag).

Every request is bounded (:mod:`ovperception.utils.http_transfer`), every failure is one
:class:`DownloadError` line naming the URL and the fix.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse

from ovperception.utils.hub_files import (ChecksumMismatchError, cached_hub_file, file_digest,
                                          hub_download, remove_paths)
from ovperception.utils.file_identity import VERIFY_ENV, stamp_path, verified_digest
from ovperception.utils.hub_files import endpoint as hub_endpoint
from ovperception.utils.http_transfer import DownloadError, stream_to_file

PROBE_TIMEOUT_S = 1.5
MIRROR_ENV = 'OVP_RELEASE_MIRROR'


class WeightsNotFoundError(FileNotFoundError):
    """The requested weights are not available locally and cannot be downloaded now."""


def _is_true(value: str | None) -> bool:
    return (value or '').strip().lower() in ('1', 'true', 'yes', 'on')


def set_offline(offline: bool = True) -> None:
    """Forbid (or allow again) downloads in this process (what ``--offline`` does)."""
    os.environ['OVP_OFFLINE'] = '1' if offline else '0'


def set_release_mirror(mirror: str | None) -> None:
    """Fetch release URLs from ``mirror`` in this process (what ``--release-mirror`` does)."""
    if mirror:
        os.environ[MIRROR_ENV] = mirror
    else:
        os.environ.pop(MIRROR_ENV, None)


def release_url(url: str, mirror: str | None = None) -> str:
    """``url`` on the release mirror (``mirror``, else ``$OVP_RELEASE_MIRROR``):
    ``https://HOST/PATH`` -> ``MIRROR/HOST/PATH``; ``url`` itself without a mirror."""
    mirror = (mirror or os.environ.get(MIRROR_ENV, '')).strip()
    if not mirror:
        return url
    if not urllib.parse.urlsplit(mirror).scheme.startswith('http'):
        raise DownloadError(f'release mirror {mirror!r} is not an http(s) URL; set '
                            f'{MIRROR_ENV} (or --release-mirror) to e.g. https://host/weights')
    parts = urllib.parse.urlsplit(url)
    return f'{mirror.rstrip("/")}/{parts.netloc}{parts.path}'


def host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host and port opens within ``timeout`` seconds.

    Name resolution has no timeout of its own, so the probe runs in a daemon thread that is
    abandoned after ``timeout``.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                result.append(True)
        except (OSError, RuntimeError):  # no route, refused, DNS failure, a test's guard
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def offline_reason(url: str) -> str | None:
    """Why ``url`` cannot be downloaded now, or None if it may be.

    Returns:
        ``'--offline was given'`` (``OVP_OFFLINE=1``), ``'HF_HUB_OFFLINE=1 is set'`` (or
        ``TRANSFORMERS_OFFLINE``, as huggingface_hub reads them), ``'no route to HOST'``, or
        None.
    """
    if _is_true(os.environ.get('OVP_OFFLINE')):
        return '--offline was given'
    hub_name = 'HF_HUB_OFFLINE' if os.environ.get('HF_HUB_OFFLINE') else 'TRANSFORMERS_OFFLINE'
    if _is_true(os.environ.get(hub_name)):  # huggingface_hub's own rule
        return f'{hub_name}=1 is set'
    if not host_reachable(url):
        return f'no route to {urllib.parse.urlsplit(url).netloc or url}'
    return None


def release_unavailable_reason(url: str, mirror: str | None = None) -> str | None:
    """Why release ``url`` cannot be downloaded now, or None: :func:`offline_reason` of the
    URL :func:`download_url` would fetch (``release_url(url, mirror)``). With a mirror set
    the mirror is probed, not the origin, and a missing route names the mirror's URL."""
    source = release_url(url, mirror)
    reason = offline_reason(source)
    if reason is not None and source != url and reason.startswith('no route'):
        return f'{reason}: the release mirror ({MIRROR_ENV}) URL {source}'
    return reason


def fetch_release_file(url: str, cache_dir: str, *, what: str, fix: str,
                       expected_sha256: str | None = None, mirror: str | None = None) -> str:
    """Local path of release ``url`` in ``cache_dir``: the verified cached file, else
    downloaded (from the release mirror when one is set) after checking that this very
    source can be reached.

    Args:
        url: the official release URL (http(s)).
        cache_dir: the cache folder (the file keeps the URL's basename).
        what: the file, for the message (e.g. ``'the official SAM vit_b checkpoint'``).
        fix: the caller's ways out, appended to the message (e.g. ``'pass a local file as
            checkpoint=PATH'``); the download and mirror fixes come first.
        expected_sha256: full hex SHA-256 or a prefix (None: recorded at first download).
        mirror: release mirror base URL (default ``$OVP_RELEASE_MIRROR``).

    Raises:
        WeightsNotFoundError: not cached and not downloadable now (``--offline``,
            ``HF_HUB_OFFLINE=1``, no route to the mirror, or to the origin without one),
            one line naming the URL that was tried and the fix.
        DownloadError, ChecksumMismatchError: as :func:`download_url`.
    """
    cached = cached_url_file(os.path.join(cache_dir, os.path.basename(
        urllib.parse.urlsplit(url).path)), expected_sha256)
    if cached is not None:
        return cached
    reason = release_unavailable_reason(url, mirror)
    if reason is not None:
        source = release_url(url, mirror)
        way = (f'start the mirror or check it serves {source} (or unset {MIRROR_ENV})'
               if source != url else f'set {MIRROR_ENV} to a mirror holding HOST/PATH')
        raise WeightsNotFoundError(
            f'{what} is not in {cache_dir} and cannot be downloaded now ({reason}). Fix: '
            f'download {url} into {cache_dir}, {way}, or {fix}.')
    return download_url(url, cache_dir, expected_sha256=expected_sha256, mirror=mirror)


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    return file_digest(path, 'sha256')


def _record_path(path: str) -> str:
    return path + '.sha256'


def record_checksum(path: str) -> str:
    """Write ``'<sha256> <size>'`` next to ``path`` (``path.sha256``); returns the hash."""
    digest = sha256_of(path)
    tmp = _record_path(path) + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(f'{digest} {os.path.getsize(path)}\n')
    os.replace(tmp, _record_path(path))
    return digest


def set_full_verification(full: bool = True) -> None:
    """Hash every cached file at its first use in this process, ignoring the verification
    stamps (what ``OVP_VERIFY_WEIGHTS=full`` / ``--verify-full`` does)."""
    if full:
        os.environ[VERIFY_ENV] = 'full'
    else:
        os.environ.pop(VERIFY_ENV, None)


def verify_file(path: str, expected_sha256: str | None = None, *,
                remember: bool = True) -> None:
    """Check ``path`` against ``expected_sha256`` (full hash or prefix) or, without one,
    against the size and hash recorded at its first download (if any).

    With ``remember`` a match is stamped next to ``path`` (``NAME.verified``) and later calls
    skip the hash while the file's size, mtime and inode are unchanged (unless
    ``OVP_VERIFY_WEIGHTS=full``).

    Raises:
        ChecksumMismatchError: naming the file, both values and the fix.
    """
    recorded_size = None
    if not expected_sha256 and os.path.isfile(_record_path(path)):
        with open(_record_path(path), encoding='utf-8') as handle:
            fields = handle.read().split()
        expected_sha256 = fields[0] if fields else None
        recorded_size = int(fields[1]) if len(fields) > 1 else None
    if not expected_sha256:
        return
    size = os.path.getsize(path)
    if recorded_size is not None and size != recorded_size:
        raise ChecksumMismatchError(
            f'{path}: size {size} differs from the {recorded_size} bytes recorded at download; '
            'the file is damaged: delete it (and its .sha256) to download it again')
    expected = expected_sha256.lower()
    hash_file = lambda name: sha256_of(name)  # noqa: E731  (looked up at each call)
    digest = (verified_digest(path, 'sha256', hash_file, lambda found: found.startswith(expected))
              if remember else hash_file(path))
    if not digest.startswith(expected):
        raise ChecksumMismatchError(
            f'{path}: SHA-256 {digest[:16]}... does not match the expected '
            f'{expected_sha256[:16]}...; the file is damaged or not the official release: '
            'delete it to download it again')


def cached_url_file(target: str, expected_sha256: str | None = None) -> str | None:
    """``target`` if it exists and passes :func:`verify_file`; a damaged one is removed (with
    its ``.sha256`` record and a warning naming it) and None returned, as for a missing one."""
    if not os.path.isfile(target):
        return None
    try:
        verify_file(target, expected_sha256)
    except ChecksumMismatchError:
        from mmengine.logging import print_log
        remove_paths(target, _record_path(target), stamp_path(target))
        print_log(f'removed the damaged cached file {target} (its SHA-256 or size is not the '
                  'expected one); it is downloaded again when needed', logger='current',
                  level=30)
        return None
    return target


def download_url(url: str, cache_dir: str, filename: str | None = None, *,
                 expected_sha256: str | None = None, progress: bool = True,
                 mirror: str | None = None) -> str:
    """Download ``url`` into ``cache_dir`` (unless a verified copy is there) and return the
    local path.

    The bytes go to ``.NAME.part`` in ``cache_dir``, renamed onto the final name only when
    the transfer is complete and the checksum matches. With an ``expected_sha256`` the
    partial file survives a dropped or stalled transfer and the next call resumes it
    (``Range``); without one it is removed. A cached file that fails its check is removed
    and downloaded again.

    Args:
        url: the release URL (http(s)); fetched from the release mirror when one is set.
        cache_dir: destination folder (created).
        filename: file name in ``cache_dir`` (default: the URL's basename).
        expected_sha256: full hex SHA-256 or a prefix of it; None records the first
            download's hash and size in ``NAME.sha256`` and checks later uses against it.
        progress: show a tqdm progress bar.
        mirror: release mirror base URL (default ``$OVP_RELEASE_MIRROR``).

    Raises:
        DownloadError: one line naming the URL, what failed and the fix.
        ChecksumMismatchError: on a hash mismatch (the download is discarded).
    """
    os.makedirs(cache_dir, exist_ok=True)
    target = os.path.join(cache_dir, filename or os.path.basename(urllib.parse.urlsplit(url).path))
    if cached_url_file(target, expected_sha256) is not None:
        return target
    source = release_url(url, mirror)
    partial = os.path.join(cache_dir, f'.{os.path.basename(target)}.part')
    try:
        stream_to_file(source, partial, label=os.path.basename(target), progress=progress)
    except DownloadError as error:
        kept = os.path.getsize(partial) if os.path.exists(partial) else 0
        if not (kept and expected_sha256):
            remove_paths(partial)
        resume = f'; {kept} bytes kept in {partial}, the next run resumes' if (
            kept and expected_sha256) else ''
        fix = (f'run again, or set {MIRROR_ENV} to a mirror holding HOST/PATH' if source == url
               else f'check the mirror ({MIRROR_ENV}) holds {source}')
        raise DownloadError(f'{error}{resume}. Fix: {fix}') from error
    except BaseException:
        if not expected_sha256:
            remove_paths(partial)
        raise
    try:
        if expected_sha256:
            verify_file(partial, expected_sha256, remember=False)
    except ChecksumMismatchError:
        digest = sha256_of(partial)
        remove_paths(partial)
        raise ChecksumMismatchError(
            f'{source}: the downloaded {os.path.basename(target)} has SHA-256 {digest[:16]}..., '
            f'not the expected {expected_sha256[:16]}... (deleted; nothing was cached): the '
            'file is damaged or not the official release. Fix: run again, or fetch it from '
            'another mirror') from None
    os.replace(partial, target)
    if not expected_sha256:
        record_checksum(target)
    return target


__all__ = ['ChecksumMismatchError', 'DownloadError', 'WeightsNotFoundError', 'cached_hub_file',
           'cached_url_file', 'download_url', 'fetch_release_file', 'hub_download',
           'hub_endpoint', 'offline_reason', 'release_unavailable_reason', 'release_url',
           'set_full_verification', 'set_offline', 'set_release_mirror', 'verify_file']
