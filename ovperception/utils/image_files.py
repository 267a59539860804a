"""Image files of a path: one image, or a folder walked recursively."""
from __future__ import annotations

import os
from typing import Sequence

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def find_images(path: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[str]:
    """One image path, or every file below a folder whose name ends with one of
    ``suffixes`` (default: images; sorted, hidden files skipped)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f'{path!r} is neither an image file nor a folder')
    found = []
    endings = tuple(suffixes)
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        found.extend(os.path.join(root, f) for f in sorted(files)
                     if f.lower().endswith(endings) and not f.startswith('.'))
    if not found:
        raise FileNotFoundError(f'no images ({", ".join(suffixes)}) found in {path!r}')
    return found
