"""Image files of a path: one image, or a folder walked recursively.

:data:`IMAGE_SUFFIXES` is the project's one list of image file endings: every reader that
finds images by their names (folder prediction, ``tools/annotate.py``, the datasets that list
folders, the web app's examples) takes it, compared case-insensitively (``a.JPG`` is an
image).
"""
from __future__ import annotations

import os
from typing import Sequence

#: The endings of the image files that readers pick up (any case): the formats Pillow reads
#: without optional plugins that ``load_image`` turns into RGB (torchvision's
#: ``IMG_EXTENSIONS``: JPEG, PNG, PPM/PGM, BMP, TIFF, WebP).
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def is_image_name(name: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """Whether the file name ``name`` ends with one of ``suffixes`` (any case) and is not a
    hidden file."""
    return (name.lower().endswith(tuple(s.lower() for s in suffixes))
            and not name.startswith('.'))


def image_names(directory: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[str]:
    """The sorted names of the image files directly in ``directory`` (:func:`is_image_name`;
    sub-folders are not walked)."""
    return sorted(name for name in os.listdir(directory) if is_image_name(name, suffixes))


def find_images(path: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[str]:
    """One image path, or every file below a folder whose name ends with one of
    ``suffixes`` (default: images; any case; sorted, hidden files skipped)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f'{path!r} is neither an image file nor a folder')
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        found.extend(os.path.join(root, f) for f in sorted(files) if is_image_name(f, suffixes))
    if not found:
        raise FileNotFoundError(f'no images ({", ".join(suffixes)}) found in {path!r}')
    return found
