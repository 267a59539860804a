"""Prepare COCO-Stuff164k and COCO-Object label maps.

Input layout (``docs/datasets.md``)::

    DATA_ROOT/images/{train2017,val2017}/*.jpg
    DATA_ROOT/annotations/{train2017,val2017}/*.png   # stuffthingmaps_trainval2017.zip

The raw ``stuffthingmaps`` PNGs store ``COCO category id - 1`` (things 0..89 with
gaps, stuff 91..181) and 255 for unlabelled pixels. For each map this tool writes

* ``{stem}_labelTrainIds.png``: COCO-Stuff 171 classes (80 things then 91 stuff,
  in category-id order; 255 = ignore), read by ``COCOStuffDataset``;
* ``{stem}_instanceTrainIds.png``: COCO-Object 81 classes, read by
  ``COCOObjectDataset``: thing train id t -> t + 1, every stuff class -> 0
  (background). Unlabelled pixels also become background 0, as in the
  GroupViT/TCL conversion that published COCO-Object numbers use;
  ``--keep-unlabeled`` keeps them at 255 (ignored) instead.

When only ``*_labelTrainIds.png`` files exist (e.g. made by mmsegmentation's
converter), the COCO-Object maps are derived from them. Files are written
atomically; existing outputs are kept unless ``--overwrite``.

Usage::

    python tools/convert_coco_object.py data/coco_stuff164k --splits val2017
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from typing import Sequence

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from ovperception.utils.atomic import atomic_save_image, ensure_not_input
from ovperception.utils.image_io import load_label_map

#: COCO thing category ids (80 of 1..90).
THING_IDS: tuple[int, ...] = tuple(
    i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
#: COCO-Stuff stuff category ids (91 classes; 183 "other" is not used).
STUFF_IDS: tuple[int, ...] = tuple(range(92, 183))
NUM_THINGS = len(THING_IDS)
IGNORE = 255
LABEL_SUFFIX = '_labelTrainIds.png'
OBJECT_SUFFIX = '_instanceTrainIds.png'


def raw_to_train_ids(raw: np.ndarray) -> np.ndarray:
    """stuffthingmaps values (category id - 1) -> COCO-Stuff train ids 0..170 (255 ignore).

    Args:
        raw: (H, W) integer map.

    Returns:
        (H, W) uint8 map; unknown values become 255.
    """
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for train_id, cat_id in enumerate(THING_IDS + STUFF_IDS):
        lut[cat_id - 1] = train_id
    raw = np.asarray(raw)
    if raw.min(initial=0) < 0 or raw.max(initial=0) > 255:
        raise ValueError(f'raw COCO-Stuff values must lie in [0, 255], got '
                         f'[{raw.min()}, {raw.max()}]')
    return lut[raw.astype(np.int64)]


def train_ids_to_object(train_ids: np.ndarray, keep_unlabeled: bool = False) -> np.ndarray:
    """COCO-Stuff train ids -> COCO-Object labels.

    Things (0..79) -> 1..80, stuff (80..170) -> 0, 255 -> 0 (or 255 with
    ``keep_unlabeled``); any other value -> 255.

    Args:
        train_ids: (H, W) integer map of COCO-Stuff train ids.
        keep_unlabeled: keep unlabelled pixels ignored instead of background.

    Returns:
        (H, W) uint8 COCO-Object map.
    """
    train_ids = np.asarray(train_ids).astype(np.int64)
    out = np.full(train_ids.shape, IGNORE, dtype=np.uint8)
    things = (train_ids >= 0) & (train_ids < NUM_THINGS)
    out[things] = train_ids[things] + 1
    out[(train_ids >= NUM_THINGS) & (train_ids < NUM_THINGS + len(STUFF_IDS))] = 0
    out[train_ids == IGNORE] = IGNORE if keep_unlabeled else 0
    return out


def convert_file(path: str, overwrite: bool = False, keep_unlabeled: bool = False) -> list[str]:
    """Write the train-id and COCO-Object maps next to one source map.

    Args:
        path: a raw ``*.png`` or a ``*_labelTrainIds.png`` map.
        overwrite: replace existing outputs.
        keep_unlabeled: see ``train_ids_to_object``.

    Returns:
        The paths written.
    """
    if path.endswith(LABEL_SUFFIX):
        stem, raw = path[:-len(LABEL_SUFFIX)], False
    else:
        stem, raw = path[:-len('.png')], True
    outputs = [stem + OBJECT_SUFFIX] + ([stem + LABEL_SUFFIX] if raw else [])
    todo = [p for p in outputs if overwrite or not os.path.exists(p)]
    if not todo:
        return []
    source = load_label_map(path)
    train_ids = raw_to_train_ids(source) if raw else source
    written = []
    for out_path in todo:
        ensure_not_input(out_path, [path])
        data = (train_ids_to_object(train_ids, keep_unlabeled) if out_path.endswith(OBJECT_SUFFIX)
                else train_ids.astype(np.uint8))
        atomic_save_image(out_path, data)
        written.append(out_path)
    return written


def find_sources(ann_dir: str) -> list[str]:
    """Raw maps of a split folder, or its ``*_labelTrainIds.png`` when no raw map exists."""
    names = sorted(os.listdir(ann_dir))
    raw = [n for n in names if n.endswith('.png') and not n.endswith('TrainIds.png')]
    chosen = raw or [n for n in names if n.endswith(LABEL_SUFFIX)]
    return [os.path.join(ann_dir, n) for n in chosen]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='COCO-Stuff164k root (holds images/ and annotations/)')
    parser.add_argument('--splits', nargs='+', default=['val2017', 'train2017'])
    parser.add_argument('--keep-unlabeled', action='store_true',
                        help='keep unlabelled pixels at 255 in COCO-Object (default: background)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    job = partial(convert_file, overwrite=args.overwrite, keep_unlabeled=args.keep_unlabeled)
    for split in args.splits:
        ann_dir = os.path.join(args.data_root, 'annotations', split)
        if not os.path.isdir(ann_dir):
            print(f'missing {ann_dir}: see docs/datasets.md (COCO-Stuff164k)', file=sys.stderr)
            return 1
        sources = find_sources(ann_dir)
        if not sources:
            print(f'no label maps in {ann_dir}', file=sys.stderr)
            return 1
        if args.nproc > 1:
            track_parallel_progress(job, sources, nproc=args.nproc)
        else:
            track_progress(job, sources)
        print(f'{split}: converted {len(sources)} maps in {ann_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
