"""Files of Hugging Face hub repositories: verified in the cache, fetched with bounded requests.

The hub names every file by its ETag: the SHA-256 of the content for LFS files (the
``X-Linked-Etag`` header), the git blob SHA-1 (``sha1(b"blob <size>\\0" + content)``) for files
stored in git. The HF cache stores each file as ``blobs/<etag>`` with a link
``snapshots/<commit>/<filename>`` and the commit of a branch in ``refs/<branch>``.

* :func:`cached_hub_file` finds a file in that cache and checks it against its ETag before
  first use in this process; a damaged file is removed (blob and link), so the caller
  downloads it again or reports that it is missing. A successful check is stamped next to the
  blob (``blobs/<etag>.verified``, :mod:`ovperception.utils.file_identity`): while the blob's
  size, mtime and inode are unchanged, later starts skip the hash (``OVP_VERIFY_WEIGHTS=full``
  hashes anyway);
* :func:`hub_download` asks the hub (``HF_ENDPOINT``) for a file's metadata through
  huggingface_hub (one HEAD, no retries, ``HF_HUB_ETAG_TIMEOUT``), streams the file with
  :func:`~ovperception.utils.http_transfer.stream_to_file` into ``blobs/<etag>.incomplete``
  (kept after a dropped or stalled transfer, resumed by the next run), checks the ETag and
  only then renames it into the cache layout. ``hf_hub_download`` is not used for the
  transfer because huggingface_hub 2.4 retries a silent server for minutes (a 60 s
  metadata retry with back-off, then five resumptions of ten seconds each) and never checks
  the content against the ETag.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from ovperception.utils.file_identity import stamp_path, verified_digest
from ovperception.utils.http_transfer import (CHUNK_BYTES, DownloadError, describe_failure,
                                              host_of, stream_to_file, timeouts)

_SHA256 = re.compile(r'^[0-9a-f]{64}$')
_SHA1 = re.compile(r'^[0-9a-f]{40}$')
#: (real path, size, mtime_ns) of blobs already checked in this process.
_VERIFIED: set[tuple[str, int, int]] = set()


class ChecksumMismatchError(DownloadError):
    """A file's SHA-256 (or git SHA-1) or size differs from the expected one."""


@dataclass(frozen=True)
class HubFile:
    """What the hub says about one file: where to GET it and what it must hash to."""

    repo_id: str
    filename: str
    url: str
    location: str
    etag: str
    commit: str
    size: int | None


def endpoint() -> str:
    """The hub address in use (``HF_ENDPOINT`` or https://huggingface.co)."""
    from huggingface_hub import constants
    return constants.ENDPOINT


def etag_algorithm(etag: str) -> str | None:
    """``'sha256'`` (LFS file), ``'git-sha1'`` (file stored in git) or None (unknown form)."""
    if _SHA256.match(etag):
        return 'sha256'
    if _SHA1.match(etag):
        return 'git-sha1'
    return None


def file_digest(path: str, algorithm: str) -> str:
    """Hex digest of ``path``: ``'sha256'`` of the content or ``'git-sha1'`` (git blob id)."""
    if algorithm == 'git-sha1':
        digest = hashlib.sha1(f'blob {os.path.getsize(path)}\0'.encode())
    else:
        digest = hashlib.new(algorithm)
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b''):
            digest.update(block)
    return digest.hexdigest()


def matches_etag(path: str, etag: str, *, remember: bool = True) -> bool:
    """Whether ``path``'s content hashes to ``etag`` (True for an ETag of unknown form).

    Hashed once per process and file identity; with ``remember`` a match is also stamped
    next to ``path`` so that later processes skip the hash while the file is unchanged
    (:func:`~ovperception.utils.file_identity.verified_digest`)."""
    algorithm = etag_algorithm(etag)
    if algorithm is None:
        return True
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return True
    hash_file = lambda name: file_digest(name, algorithm)  # noqa: E731
    digest = (verified_digest(path, algorithm, hash_file, etag.__eq__) if remember
              else hash_file(path))
    if digest != etag:
        return False
    _VERIFIED.add(key)
    return True


def _cache_root(cache_dir: str | None) -> str:
    from huggingface_hub import constants
    return cache_dir or constants.HF_HUB_CACHE


def _storage(repo_id: str, cache_dir: str | None) -> str:
    from huggingface_hub.file_download import repo_folder_name
    return os.path.join(_cache_root(cache_dir), repo_folder_name(repo_id=repo_id,
                                                                  repo_type='model'))


def remove_paths(*paths: str) -> None:
    """Delete each of ``paths`` that exists (a file or a dangling link)."""
    for path in paths:
        if os.path.lexists(path):
            os.remove(path)


def cached_hub_file(repo_id: str, filename: str, cache_dir: str | None = None) -> str | None:
    """Path of ``filename`` of ``repo_id`` in the HF cache, checked against its ETag (the
    blob's name), or None when it is not cached or was damaged (then it is removed, with a
    warning naming it, so that the next download replaces it)."""
    from huggingface_hub import try_to_load_from_cache
    from mmengine.logging import print_log
    path = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
    if not isinstance(path, str) or not os.path.isfile(path):
        return None
    blob = os.path.realpath(path)
    if matches_etag(blob, os.path.basename(blob)):
        return path
    remove_paths(blob, stamp_path(blob), path)
    print_log(f'removed the damaged cached file {path} (its content does not hash to the '
              f'hub\'s {os.path.basename(blob)[:12]}...); it is downloaded again when '
              'needed', logger='current', level=30)
    return None


def _hub_failure(url: str, error: BaseException, limit: float) -> DownloadError:
    """One-line DownloadError for a failed metadata request (status, URL and the fix)."""
    import httpx2
    from huggingface_hub.errors import (FileMetadataError, GatedRepoError, HfHubHTTPError,
                                        RepositoryNotFoundError)
    hub = endpoint()
    fix_endpoint = (f'Fix: check HF_ENDPOINT (now {hub}) points at a Hugging Face hub or '
                    'mirror, or unset it')
    from huggingface_hub.errors import OfflineModeIsEnabled
    if isinstance(error, OfflineModeIsEnabled):
        return DownloadError(f'{url}: HF_HUB_OFFLINE=1 is set. Fix: unset it to download, or '
                             'copy the Hugging Face cache from a machine with internet')
    if isinstance(error, GatedRepoError):
        return DownloadError(f'{url}: gated repository. Fix: accept its terms on the hub '
                             'and set HF_TOKEN')
    if isinstance(error, RepositoryNotFoundError):
        status = error.response.status_code
        return DownloadError(f'{url} answered HTTP {status}: repository not found at {hub}. '
                             f'{fix_endpoint}; private repositories need HF_TOKEN')
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        if status == 404:
            return DownloadError(f'{url} answered HTTP 404 (no hub there). {fix_endpoint}')
        return DownloadError(f'{url} answered HTTP {status}. Fix: the server failed; try '
                             f'again later, or set HF_ENDPOINT to a mirror')
    if isinstance(error, FileMetadataError):
        return DownloadError(f'{url}: the answer lacks the hub\'s headers (X-Repo-Commit / '
                             f'ETag). {fix_endpoint}')
    if isinstance(error, httpx2.TimeoutException):
        return DownloadError(
            f'{host_of(url)} accepted the connection but did not answer within {limit:g} s '
            f'({url}). Fix: try again later, set HF_ENDPOINT to a reachable mirror, or raise '
            'HF_HUB_ETAG_TIMEOUT on a slow link')
    if isinstance(error, httpx2.HTTPError):
        return DownloadError(f'cannot reach {host_of(url)} ({type(error).__name__}: {error}). '
                             'Fix: check the connection or HF_ENDPOINT')
    return DownloadError(f'{url}: {type(error).__name__}: {error}')


def hub_metadata(repo_id: str, filename: str, revision: str = 'main') -> HubFile | None:
    """The hub's metadata of a file (one HEAD request, no retries), None if the repository
    has no such file.

    Raises:
        DownloadError: any other answer (status, URL and fix in one line) or a stall longer
            than ``HF_HUB_ETAG_TIMEOUT`` seconds.
    """
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint())
    limit = timeouts().metadata
    try:
        meta = get_hf_file_metadata(url, timeout=limit, retry_on_errors=False)
    except EntryNotFoundError:
        return None
    except (HfHubHTTPError, httpx2.HTTPError, OSError, ValueError) as error:
        raise _hub_failure(url, error, limit) from error
    if not meta.commit_hash or not meta.etag:
        from huggingface_hub.errors import FileMetadataError
        raise _hub_failure(url, FileMetadataError('missing headers'), limit)
    return HubFile(repo_id, filename, url, meta.location or url, meta.etag, meta.commit_hash,
                   meta.size)


def _request_headers(file: HubFile) -> dict[str, str]:
    """The hub's request headers (token, user agent); no token for another host (CDN)."""
    from huggingface_hub.utils import build_hf_headers
    headers = build_hf_headers()
    headers['Accept-Encoding'] = 'identity'
    if urllib.parse.urlsplit(file.location).netloc != urllib.parse.urlsplit(file.url).netloc:
        headers.pop('authorization', None)
    return headers


def _link(blob: str, pointer: str) -> None:
    """``pointer`` -> ``blob`` (relative symlink, as the HF cache does; a copy without)."""
    os.makedirs(os.path.dirname(pointer), exist_ok=True)
    remove_paths(pointer)
    try:
        os.symlink(os.path.relpath(blob, os.path.dirname(pointer)), pointer)
    except OSError:
        shutil.copyfile(blob, pointer)


def fetch_into_cache(file: HubFile, cache_dir: str | None = None, revision: str = 'main') -> str:
    """Download ``file`` into the HF cache layout (verified against its ETag); its path.

    Raises:
        DownloadError: the transfer failed; the bytes received stay in
            ``blobs/<etag>.incomplete`` for the next run to resume.
        ChecksumMismatchError: the content does not match the ETag (nothing is kept).
    """
    from filelock import FileLock
    from huggingface_hub.file_download import repo_folder_name
    storage = _storage(file.repo_id, cache_dir)
    blob = os.path.join(storage, 'blobs', file.etag)
    pointer = os.path.join(storage, 'snapshots', file.commit, *file.filename.split('/'))
    lock = os.path.join(_cache_root(cache_dir), '.locks',
                        repo_folder_name(repo_id=file.repo_id, repo_type='model'),
                        f'{file.etag}.lock')
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with FileLock(lock):
        if not (os.path.isfile(blob) and matches_etag(blob, file.etag)):
            partial = blob + '.incomplete'
            try:
                stream_to_file(file.location, partial, expected_size=file.size,
                               headers=_request_headers(file), label=file.filename)
            except DownloadError as error:
                kept = os.path.getsize(partial) if os.path.exists(partial) else 0
                if not kept:
                    remove_paths(partial)
                resume = (f'; {kept} bytes kept in {partial}, the next run resumes' if kept
                          else '')
                raise DownloadError(f'downloading {file.filename} of {file.repo_id} failed: '
                                    f'{error}{resume}. Fix: run again, or set HF_ENDPOINT to '
                                    'a mirror') from error
            if not matches_etag(partial, file.etag, remember=False):
                remove_paths(partial)
                raise ChecksumMismatchError(
                    f'{file.url}: the downloaded {file.filename} does not match the hub\'s '
                    f'{etag_algorithm(file.etag)} {file.etag[:12]}... (deleted; nothing was '
                    'cached). Fix: run again; if it repeats, the server or a proxy alters the '
                    'file: set HF_ENDPOINT to another mirror')
            os.replace(partial, blob)
        os.makedirs(os.path.join(storage, 'refs'), exist_ok=True)
        if revision != file.commit:
            with open(os.path.join(storage, 'refs', revision), 'w', encoding='utf-8') as ref:
                ref.write(file.commit)
        _link(blob, pointer)
    return pointer


def hub_download(repo_id: str, filenames: Sequence[str], cache_dir: str | None = None) -> str:
    """The first of ``filenames`` that repository ``repo_id`` holds, from the HF cache
    (checked) or downloaded into it (checked); its local path.

    Raises:
        DownloadError: none of the files exists there, or the hub failed (one line: status,
            URL and the fix).
    """
    for name in filenames:
        path = cached_hub_file(repo_id, name, cache_dir)
        if path is not None:
            return path
    for name in filenames:
        file = hub_metadata(repo_id, name)
        if file is not None:
            return fetch_into_cache(file, cache_dir)
    raise DownloadError(f'{endpoint()}/{repo_id} has none of {", ".join(filenames)}. Fix: '
                        'check the repository name (and HF_ENDPOINT), or pass a local file')


__all__ = ['ChecksumMismatchError', 'DownloadError', 'HubFile', 'cached_hub_file',
           'describe_failure', 'endpoint', 'fetch_into_cache', 'hub_download', 'hub_metadata',
           'matches_etag']
