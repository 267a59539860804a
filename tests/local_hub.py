"""A Hugging Face hub stand-in on 127.0.0.1 for download tests (see ``local_hub`` fixture).

Serves ``/{repo_id}/resolve/{revision}/{filename}`` the way the hub does for
``huggingface_hub.hf_hub_download`` (HEAD with ``X-Repo-Commit`` / ``ETag`` /
``Content-Length``, then GET; ``X-Error-Code: EntryNotFound`` for a missing file) and plain
files under ``/files/...`` (SAM-style release URLs). ``truncate`` makes the server announce the
full size but close the connection half-way, like a dropped download.
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = 'a' * 40


class LocalHub:
    """Context manager running the server in a thread; records every requested path."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _serve(self, with_body: bool) -> None:
                path = self.path.split('?')[0]
                hub.requests.append((self.command, path))
                key = path
                if '/resolve/' in path:
                    repo, _, rest = path.lstrip('/').partition('/resolve/')
                    key = f'{repo}/{rest.partition("/")[2]}'
                data = hub.files.get(key)
                if data is None:
                    self.send_response(404)
                    self.send_header('X-Error-Code', 'EntryNotFound')
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header('X-Repo-Commit', COMMIT)
                self.send_header('ETag', f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header('Content-Length', str(len(data)))
                self.send_header('Content-Type', 'application/octet-stream')
                self.end_headers()
                if with_body:
                    body = data[:len(data) // 2] if key in hub.truncate else data
                    self.wfile.write(body)
                    self.wfile.flush()
                    if key in hub.truncate:
                        self.close_connection = True

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._serve(False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(True)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
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

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
