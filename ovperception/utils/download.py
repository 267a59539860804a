"""Downloading weights on first use: offline detection, atomic downloads, checksums.

* :func:`offline_reason` says, within about a second and a half, why nothing can be
  downloaded now (``HF_HUB_OFFLINE=1`` / ``OVP_OFFLINE=1`` / ``--offline``, or no route to the
  server), or None when a download may start;
* :func:`download_url` streams a URL into a cache folder with a progress bar, through a
  temporary file in the same folder that is renamed only once complete and verified: an
  interrupted download never leaves a truncated file under the final name;
* checksums: an expected SHA-256 (full or a prefix, as in open_clip's and SAM's file names) is
  checked before the rename; without one, the size and SHA-256 of the first download are
  recorded next to the file (``NAME.sha256``) and every later use checks the file against them.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import threading
import urllib.parse
import urllib.request

from tqdm import tqdm

PROBE_TIMEOUT_S = 1.5
CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """A download failed (server error, interrupted transfer)."""


class ChecksumMismatchError(DownloadError):
    """A file's SHA-256 or size differs from the expected or recorded one."""


def _is_true(value: str | None) -> bool:
    return (value or '').strip().lower() in ('1', 'true', 'yes', 'on')


def set_offline(offline: bool = True) -> None:
    """Forbid (or allow again) downloads in this process (what ``--offline`` does)."""
    os.environ['OVP_OFFLINE'] = '1' if offline else '0'


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


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b''):
            digest.update(block)
    return digest.hexdigest()


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


def verify_file(path: str, expected_sha256: str | None = None) -> None:
    """Check ``path`` against ``expected_sha256`` (full hash or prefix) or, without one,
    against the size and hash recorded at its first download (if any).

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
    digest = sha256_of(path)
    if not digest.startswith(expected_sha256.lower()):
        raise ChecksumMismatchError(
            f'{path}: SHA-256 {digest[:16]}... does not match the expected '
            f'{expected_sha256[:16]}...; the file is damaged or not the official release: '
            'delete it to download it again')


def download_url(url: str, cache_dir: str, filename: str | None = None, *,
                 expected_sha256: str | None = None, progress: bool = True,
                 timeout: float = 30.0) -> str:
    """Download ``url`` into ``cache_dir`` (unless already there) and return the local path.

    The bytes go to a temporary file in ``cache_dir`` that is renamed onto the final name
    only when the transfer is complete (``Content-Length`` bytes) and the checksum matches;
    on any failure or interruption the temporary file is removed.

    Args:
        url: http(s) URL.
        cache_dir: destination folder (created).
        filename: file name in ``cache_dir`` (default: the URL's basename).
        expected_sha256: full hex SHA-256 or a prefix of it; None records the first
            download's hash and size in ``NAME.sha256`` and checks later uses against it.
        progress: show a tqdm progress bar.
        timeout: socket timeout in seconds.

    Raises:
        DownloadError: on a server error or a short transfer.
        ChecksumMismatchError: on a hash mismatch (the download is discarded).
    """
    os.makedirs(cache_dir, exist_ok=True)
    target = os.path.join(cache_dir, filename or os.path.basename(urllib.parse.urlsplit(url).path))
    if os.path.isfile(target):
        verify_file(target, expected_sha256)
        return target
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f'.{os.path.basename(target)}.',
                               suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=timeout) as source:
            total = int(source.headers.get('Content-Length') or 0) or None
            written = 0
            with tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024,
                      desc=os.path.basename(target), disable=not progress) as bar:
                for block in iter(lambda: source.read(CHUNK_BYTES), b''):
                    out.write(block)
                    written += len(block)
                    bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if total is not None and written != total:
            raise DownloadError(f'{url}: transfer ended after {written} of {total} bytes')
        if expected_sha256:
            verify_file(tmp, expected_sha256)
        os.replace(tmp, target)
    except BaseException as error:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(error, http.client.HTTPException) or (
                isinstance(error, OSError) and not isinstance(error, FileNotFoundError)):
            raise DownloadError(f'download of {url} failed: {error}') from error
        raise
    if not expected_sha256:
        record_checksum(target)
    return target


def hub_endpoint() -> str:
    """The Hugging Face hub address in use (``HF_ENDPOINT`` or huggingface.co)."""
    from huggingface_hub import constants
    return constants.ENDPOINT


def hub_download(repo_id: str, filenames: list[str] | tuple[str, ...],
                 cache_dir: str | None = None) -> str:
    """Download the first of ``filenames`` that exists in hub repo ``repo_id`` into the
    Hugging Face cache (progress bar; the hub's ``.incomplete`` files, renamed when complete)
    and return its path.

    Raises:
        DownloadError: none of the files exists there, or the hub cannot be reached.
    """
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

    # A plain tqdm bar shows even when stderr is not a terminal (logs of batch jobs), as
    # download_url's does; HF_HUB_DISABLE_PROGRESS_BARS=1 keeps the hub's own (silent) bar.
    progress_class = None if _is_true(os.environ.get('HF_HUB_DISABLE_PROGRESS_BARS')) else tqdm
    errors = []
    for name in filenames:
        try:
            return huggingface_hub.hf_hub_download(repo_id, name, cache_dir=cache_dir,
                                                   tqdm_class=progress_class)
        except RemoteEntryNotFoundError:
            errors.append(f'{name}: not in the repository')
        except (HfHubHTTPError, OSError, ValueError) as error:
            errors.append(f'{name}: {type(error).__name__}: {str(error).splitlines()[0]}')
    raise DownloadError(f'could not download {" or ".join(filenames)} from '
                        f'{hub_endpoint()}/{repo_id} ({"; ".join(errors)})')
