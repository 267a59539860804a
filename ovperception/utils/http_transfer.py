"""Bounded HTTP transfers: every request has a connect and a read timeout, retries are few
and short, and every failure becomes one :class:`DownloadError` line naming the URL.

* :func:`timeouts` - the limits in use: ``HF_HUB_ETAG_TIMEOUT`` (an answer to a metadata
  request) and ``HF_HUB_DOWNLOAD_TIMEOUT`` (silence while a file streams), the variables
  huggingface_hub reads, defaulting to 5 s and 10 s;
* :func:`stream_to_file` - GET a URL into a partial file, resuming it with a ``Range`` request
  when the server allows (``206``), at most :data:`MAX_RESUMES` times after a dropped
  connection or a stalled read, each attempt only after new bytes arrived;
* :func:`describe_failure` - a one-line reason for any transfer error (status and URL for an
  HTTP error, the host and the seconds for a stall, bytes received for a drop).
"""
from __future__ import annotations

import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from tqdm import tqdm

CHUNK_BYTES = 1 << 20
#: How often a transfer that dropped or stalled after new bytes is resumed before giving up.
MAX_RESUMES = 2
DEFAULT_METADATA_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 10.0


class DownloadError(RuntimeError):
    """A download failed (server error, stalled or dropped transfer); one line with the fix."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds a request may wait: ``metadata`` for the answer to a HEAD (or the headers of
    a GET), ``read`` for the next bytes of a streaming body."""

    metadata: float
    read: float


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, '').strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise DownloadError(f'{name}={value!r} is not a number of seconds') from None


def timeouts() -> Timeouts:
    """The limits in use, from ``HF_HUB_ETAG_TIMEOUT`` / ``HF_HUB_DOWNLOAD_TIMEOUT``."""
    return Timeouts(metadata=_seconds('HF_HUB_ETAG_TIMEOUT', DEFAULT_METADATA_TIMEOUT_S),
                    read=_seconds('HF_HUB_DOWNLOAD_TIMEOUT', DEFAULT_READ_TIMEOUT_S))


def host_of(url: str) -> str:
    """``host[:port]`` of ``url`` (the URL itself if it has none)."""
    return urllib.parse.urlsplit(url).netloc or url


def describe_failure(url: str, error: BaseException, waited_s: float | None = None) -> str:
    """One line saying what went wrong with ``url`` (no fix; callers add theirs)."""
    if isinstance(error, urllib.error.HTTPError):
        return f'{url} answered HTTP {error.code} {error.reason}'
    reason = getattr(error, 'reason', None)  # URLError wraps the socket error
    cause = reason if isinstance(reason, BaseException) else error
    if isinstance(cause, (socket.timeout, TimeoutError)):
        limit = f' for {waited_s:g} s' if waited_s else ''
        return f'{host_of(url)} accepted the connection but sent nothing{limit} ({url})'
    if isinstance(cause, ConnectionRefusedError):
        return f'{host_of(url)} refused the connection ({url})'
    if isinstance(cause, (http.client.IncompleteRead, http.client.RemoteDisconnected,
                          ConnectionResetError, BrokenPipeError)):
        return f'{host_of(url)} closed the connection mid-transfer ({url})'
    return f'{url}: {type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ""}'


def request(url: str, method: str = 'GET', headers: Mapping[str, str] | None = None,
            timeout: float | None = None, start: int = 0) -> http.client.HTTPResponse:
    """Open ``url`` (redirects followed) with ``timeout`` seconds per socket operation;
    ``start > 0`` asks for the bytes from ``start`` on (``Range``)."""
    all_headers = dict(headers or {})
    if start:
        all_headers['Range'] = f'bytes={start}-'
    req = urllib.request.Request(url, method=method, headers=all_headers)
    return urllib.request.urlopen(req, timeout=timeout or timeouts().metadata)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get('Content-Length')
    return int(value) if value and value.isdigit() else None


def _transient(error: BaseException) -> bool:
    """A dropped connection or a stalled read (worth resuming), not an HTTP status."""
    if isinstance(error, urllib.error.HTTPError):
        return False
    cause = getattr(error, 'reason', error)
    return isinstance(cause, (socket.timeout, TimeoutError, http.client.IncompleteRead,
                              http.client.RemoteDisconnected, ConnectionResetError,
                              BrokenPipeError))


def _copy_body(response: http.client.HTTPResponse, out, bar: tqdm) -> int:
    """Copy the response body into ``out``; returns the bytes written."""
    written = 0
    for block in iter(lambda: response.read(CHUNK_BYTES), b''):
        out.write(block)
        written += len(block)
        bar.update(len(block))
    return written


def stream_to_file(url: str, partial: str, *, expected_size: int | None = None,
                   headers: Mapping[str, str] | None = None, label: str | None = None,
                   progress: bool = True) -> int:
    """Append ``url``'s body to ``partial`` (resuming from its current size when the server
    honours ``Range``) until the file has ``expected_size`` (or Content-Length) bytes.

    Every socket operation (connect, headers, each read) waits at most the read timeout; a
    drop or stall is resumed only when the attempt brought new bytes, at most
    :data:`MAX_RESUMES` times, so a dead server costs one timeout.

    Returns:
        The final size of ``partial``.

    Raises:
        DownloadError: an HTTP error status, a stall longer than the read timeout or a
            dropped connection; ``partial`` keeps the bytes received (the caller decides
            whether to keep it for a later resume).
    """
    limit = timeouts().read
    resumes = 0
    total = expected_size
    with tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024,
              desc=label or os.path.basename(partial), disable=not progress) as bar:
        while True:
            before = os.path.getsize(partial) if os.path.exists(partial) else 0
            if total is not None and before >= total:
                return before
            if before:
                bar.n = before
                bar.refresh()
            try:
                with request(url, headers=headers, timeout=limit, start=before) as response:
                    offset = before if response.status == 206 else 0  # Range ignored: restart
                    length = _content_length(response)
                    if total is None and length is not None:
                        total = bar.total = offset + length
                    bar.n = offset
                    with open(partial, 'r+b' if offset else 'wb') as out:
                        out.seek(offset)
                        out.truncate()
                        _copy_body(response, out, bar)
                        out.flush()
                        os.fsync(out.fileno())
                size = os.path.getsize(partial)
                if total is not None and size < total:
                    raise http.client.IncompleteRead(b'', total - size)
                return size
            except (OSError, http.client.HTTPException) as error:
                size = os.path.getsize(partial) if os.path.exists(partial) else 0
                if _transient(error) and size > before and resumes < MAX_RESUMES:
                    resumes += 1
                    continue
                of_total = f' of {total}' if total else ''
                received = f' after {size}{of_total} bytes' if size else ''
                raise DownloadError(f'{describe_failure(url, error, limit)}{received}'
                                    ) from error
