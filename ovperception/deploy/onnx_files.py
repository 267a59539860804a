"""What every ONNX step shares: the graph's tensor names, the metadata key, the error type and
the atomic in-place rewrite of an exported file."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

METADATA_KEY = 'ovperception'
INPUT_NAME, OUTPUT_NAME = 'crops', 'scores'


class ExportError(ValueError):
    """The model (or a request) cannot be exported to ONNX."""


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


__all__ = ['ExportError', 'INPUT_NAME', 'METADATA_KEY', 'OUTPUT_NAME', 'rewrite_in_place']
