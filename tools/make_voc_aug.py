"""Make PASCAL VOC 2012 "train_aug" from the VOC 2012 and SBD releases.

Writes ``VOC_ROOT/ImageSets/Segmentation/train_aug.txt`` ((VOC train | SBD train | SBD val)
- VOC val, sorted: 10,582 ids) and ``VOC_ROOT/SegmentationClassAug/{id}.png`` (8-bit class
indices; VOC's masks where they exist, SBD's ``cls/*.mat`` otherwise), the layout the WSSS
repositories (ExCEL, WeCLIP) train on. Existing label maps are kept unless ``--overwrite``;
files are written atomically. See ``docs/excel.md`` and ``docs/datasets.md``.

Usage::

    python tools/make_voc_aug.py data/VOCdevkit/VOC2012 data/benchmark_RELEASE/dataset
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('voc_root', help='VOCdevkit/VOC2012 (ImageSets/Segmentation, '
                                         'SegmentationClass)')
    parser.add_argument('sbd_root', help='SBD benchmark_RELEASE/dataset (train.txt, val.txt, '
                                         'cls/*.mat)')
    parser.add_argument('--list-only', action='store_true',
                        help='write train_aug.txt only (no label maps)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing label maps')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the inputs, then write the split file and the label maps."""
    args = parse_args(argv)
    from mmengine.utils import track_progress

    from ovperception.datasets.voc_aug import (AUG_LABEL_DIR, SPLIT_DIR, TRAIN_AUG, aug_label,
                                               label_ids, missing_inputs, train_aug_ids)
    from ovperception.utils.atomic import atomic_save_image, atomic_write_bytes
    missing = missing_inputs(args.voc_root, args.sbd_root)
    if missing:
        print(f'missing {missing[0]}: see docs/datasets.md (Pascal VOC 2012, SBD)',
              file=sys.stderr)
        return 1
    ids = train_aug_ids(args.voc_root, args.sbd_root)
    split_path = os.path.join(args.voc_root, SPLIT_DIR, f'{TRAIN_AUG}.txt')
    atomic_write_bytes(split_path, ''.join(f'{i}\n' for i in ids).encode())
    print(f'{split_path}: {len(ids)} ids')
    if args.list_only:
        return 0
    out_dir = os.path.join(args.voc_root, AUG_LABEL_DIR)
    os.makedirs(out_dir, exist_ok=True)
    todo = [i for i in label_ids(args.voc_root, args.sbd_root)
            if args.overwrite or not os.path.exists(os.path.join(out_dir, f'{i}.png'))]

    def write(image_id: str) -> None:
        label = aug_label(image_id, args.voc_root, args.sbd_root)
        atomic_save_image(os.path.join(out_dir, f'{image_id}.png'), label)

    try:
        track_progress(write, todo)
    except KeyboardInterrupt:
        print('interrupted: run the same command again to finish (written maps are kept)',
              file=sys.stderr)
        return 130
    except (OSError, ValueError, KeyError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'{out_dir}: wrote {len(todo)} label maps')
    return 0


if __name__ == '__main__':
    sys.exit(main())
