"""A tiny synthetic PASCAL VOC 2012 (+ SBD) tree for dataset, tool and config tests."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from PIL import Image

VOC_TRAIN = ('2007_000032', '2007_000039', '2008_000002')
VOC_VAL = ('2007_000033', '2008_000003')


def label_for(index: int, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: background, class ``1 + index % 20`` in a box, a 255 border around it."""
    height, width = size
    label = np.zeros(size, np.uint8)
    top, left = height // 4, width // 5
    label[top - 1:top + height // 2 + 1, left - 1:left + width // 2 + 1] = 255
    label[top:top + height // 2, left:left + width // 2] = 1 + index % 20
    return label


def _save_palette(path: str, label: np.ndarray) -> None:
    image = Image.fromarray(label, mode='P')
    image.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, i)])
    image.save(path)


def write_voc_layout(root: str, train: Sequence[str] = VOC_TRAIN,
                     val: Sequence[str] = VOC_VAL, extra_aug: Sequence[str] = ('2009_000001',),
                     size: tuple[int, int] = (40, 56)) -> str:
    """``root/VOC2012``: JPEGImages, SegmentationClass (palette PNGs), SegmentationClassAug
    (8-bit), ImageSets/Segmentation/{train,val,train_aug}.txt (train_aug = train +
    ``extra_aug``). Returns the VOC2012 folder."""
    voc = os.path.join(root, 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'ImageSets/Segmentation'):
        os.makedirs(os.path.join(voc, sub), exist_ok=True)
    rng = np.random.RandomState(0)
    for index, image_id in enumerate(list(train) + list(val) + list(extra_aug)):
        pixels = rng.randint(0, 256, size + (3,), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(voc, 'JPEGImages', f'{image_id}.jpg'))
        label = label_for(index, size)
        Image.fromarray(label).save(os.path.join(voc, 'SegmentationClassAug', f'{image_id}.png'))
        if image_id not in extra_aug:
            _save_palette(os.path.join(voc, 'SegmentationClass', f'{image_id}.png'), label)
    splits = dict(train=list(train), val=list(val), train_aug=sorted(list(train) + list(extra_aug)))
    for name, ids in splits.items():
        with open(os.path.join(voc, 'ImageSets', 'Segmentation', f'{name}.txt'), 'w') as handle:
            handle.write(''.join(f'{i}\n' for i in ids))
    return voc
