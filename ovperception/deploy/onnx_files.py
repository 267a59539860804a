"""What every ONNX step shares: the graph's tensor names, the metadata key and its parsing, the
error type and the atomic in-place rewrite of an exported file."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable

METADATA_KEY = 'ovperception'
INPUT_NAME, OUTPUT_NAME = 'crops', 'scores'


class ExportError(ValueError):
    """The model (or a request) cannot be exported to ONNX."""


def parse_metadata(raw: str | None, path: str) -> dict:
    """The ``ovperception`` metadata of the exported file ``path`` from its raw JSON text
    (``raw`` None: the file holds none, an :class:`ExportError`)."""
    if raw is None:
        raise ExportError(f'{path} was not exported by tools/export_onnx.py (no ovperception '
                          'metadata)')
    return json.loads(raw)


def rewrite_in_place(path: str, rewrite: Callable[[str, str], None]) -> None:
    """``rewrite(path, temporary)`` writes a new version of ``path`` into a temporary file
    beside it, which then replaces ``path`` (atomically; removed on failure)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path), suffix='.onnx')
    os.close(fd)
    try:
        rewrite(path, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


__all__ = ['ExportError', 'INPUT_NAME', 'METADATA_KEY', 'OUTPUT_NAME', 'parse_metadata',
           'rewrite_in_place']
