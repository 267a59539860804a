"""A Hugging Face hub stand-in on 127.0.0.1 for download tests (see ``local_hub`` fixture).

Serves ``/{repo_id}/resolve/{revision}/{filename}`` the way the hub does (HEAD with
``X-Repo-Commit``, ``ETag`` and ``X-Linked-Etag`` = SHA-256 for LFS-like binary files or the
git blob SHA-1 for ``.json``/``.txt`` files stored in git, ``Content-Length``; GET with
``Range`` support; ``X-Error-Code: EntryNotFound`` for a missing file) and plain files under
``/files/...`` (release URLs such as SAM's).

Failure modes, per served key (``hub.fail[key] = MODE``, key = ``'repo/filename'`` or
``'/files/path'``) or for every request (``hub.fail_all = MODE``):

* ``'corrupt'``: the right size and headers, 16 bytes flipped in the body;
* ``'stall'``: accepts the connection, reads the request, never answers;
* ``'stall_body'``: answers the headers and half the body, then goes silent;
* ``'drop'``: announces the full size, sends half, closes the connection (every time);
* ``'drop_once'``: like ``'drop'`` for the first GET only (then serves ``Range`` requests);
* ``'404'``: a plain 404 without the hub's error code (a server that is not a hub);
* ``'500'``: HTTP 500.
"""
from __future__ import annotations

import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = 'a' * 40
GIT_STORED_SUFFIXES = ('.json', '.txt')


def closed_url() -> str:
    """``http://127.0.0.1:PORT`` of a port nobody listens on (an unreachable server that is
    never the internet)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return f'http://127.0.0.1:{sock.getsockname()[1]}'


def hub_etag(filename: str, data: bytes) -> str:
    """What the hub would give as ETag: git blob SHA-1 for small text files, else SHA-256."""
    if filename.endswith(GIT_STORED_SUFFIXES):
        return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()
    return hashlib.sha256(data).hexdigest()


def corrupted(data: bytes) -> bytes:
    """``data`` with 16 bytes flipped in the middle (same size)."""
    middle = len(data) // 2
    damaged = bytearray(data)
    for index in range(max(0, middle - 8), min(len(data), middle + 8)):
        damaged[index] ^= 0xFF
    return bytes(damaged)


class LocalHub:
    """Context manager running the server in a thread; records every requested path."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()  # legacy name of fail[key] = 'drop'
        self.fail: dict[str, str] = {}
        self.fail_all: str | None = None
        self.requests: list[tuple[str, str]] = []
        self.range_requests: list[str] = []
        self.released = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _plain(self, status: int, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def _serve(self, with_body: bool) -> None:
                path = self.path.split('?')[0]
                hub.requests.append((self.command, path))
                key, filename = path, path.rsplit('/', 1)[-1]
                if '/resolve/' in path:
                    repo, _, rest = path.lstrip('/').partition('/resolve/')
                    key = f'{repo}/{rest.partition("/")[2]}'
                mode = hub.fail_all or hub.fail.get(key) or (
                    'drop' if key in hub.truncate else None)
                if mode == 'stall':
                    hub.released.wait()
                    self.close_connection = True
                    return
                if mode == '404':
                    return self._plain(404)
                if mode == '500':
                    return self._plain(500)
                data = hub.files.get(key)
                if data is None:
                    return self._plain(404, {'X-Error-Code': 'EntryNotFound',
                                             'X-Repo-Commit': COMMIT})
                etag = hub_etag(filename, data)
                start = 0
                match = re.match(r'bytes=(\d+)-$', self.headers.get('Range', ''))
                if match and mode not in ('drop', 'stall_body'):
                    start = int(match.group(1))
                    hub.range_requests.append(key)
                self.send_response(206 if start else 200)
                self.send_header('X-Repo-Commit', COMMIT)
                self.send_header('ETag', f'"{etag}"')
                self.send_header('X-Linked-Etag', f'"{etag}"')
                self.send_header('Content-Length', str(len(data) - start))
                if start:
                    self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
                self.send_header('Content-Type', 'application/octet-stream')
                self.end_headers()
                if not with_body:
                    return
                body = corrupted(data) if mode == 'corrupt' else data
                if mode == 'drop_once':
                    hub.fail.pop(key)
                if mode in ('drop', 'drop_once', 'stall_body'):
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    if mode == 'stall_body':
                        hub.released.wait()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])
                self.wfile.flush()

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._serve(False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(True)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f'http://127.0.0.1:{self.server.server_address[1]}'
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs=dict(poll_interval=0.05), daemon=True)

    def add(self, repo_id: str, filename: str, data: bytes) -> None:
        """Serve ``data`` as ``filename`` of hub repository ``repo_id``."""
        self.files[f'{repo_id}/{filename}'] = data

    def add_url(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``/files/<path>``; returns its full URL."""
        self.files[f'/files/{path}'] = data
        return self.url(f'files/{path}')

    def url(self, path: str) -> str:
        """Full URL of ``path`` on this server."""
        return f'{self.endpoint}/{path.lstrip("/")}'

    def gets(self) -> list[str]:
        """Paths of the GET requests so far."""
        return [path for method, path in self.requests if method == 'GET']

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
