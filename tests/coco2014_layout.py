"""A tiny synthetic MS COCO 2014 tree in the WSSS (VOC-style) layout, for dataset and config
tests: ``JPEGImages/{train,val}2014/COCO_{split}2014_<12 digits>.jpg`` and
``SegmentationClass/{train,val}2014/<12 digits>.png`` (8-bit class indices, 0 background,
1..80 things, 255 ignore)."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

COCO_TRAIN_NUMBERS = (9, 25, 30)
COCO_VAL_NUMBERS = (42, 73)
#: a grayscale JPEG, as some COCO images are (read as 3 equal channels)
COCO_GRAYSCALE_NUMBER = 30


def coco_label(number: int, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: two things (``1 + number % 80`` and ``80``) in boxes on background, an
    ignored (255) strip."""
    height, width = size
    label = np.zeros(size, np.uint8)
    label[height // 4:height // 2, width // 5:width // 2] = 1 + number % 80
    label[height // 2:, width // 2:] = 80
    label[:, :2] = 255
    return label


def coco_image_name(split: str, number: int) -> str:
    """``COCO_train2014_000000000009``."""
    return f'COCO_{split}2014_{number:012d}'


def write_coco2014_layout(root: str, size: tuple[int, int] = (40, 56),
                          unannotated: int = 99) -> str:
    """Write the tree under ``root/COCO`` and return that folder; image ``unannotated`` of
    each split has no mask (COCO images without object annotations), train image
    ``COCO_GRAYSCALE_NUMBER`` is a one-channel JPEG."""
    coco = os.path.join(root, 'COCO')
    rng = np.random.RandomState(0)
    for split, numbers in (('train', COCO_TRAIN_NUMBERS), ('val', COCO_VAL_NUMBERS)):
        image_dir = os.path.join(coco, 'JPEGImages', f'{split}2014')
        mask_dir = os.path.join(coco, 'SegmentationClass', f'{split}2014')
        os.makedirs(image_dir)
        os.makedirs(mask_dir)
        for number in (*numbers, unannotated):
            pixels = rng.randint(1, 256, (*size, 3), dtype=np.uint8)
            if number == COCO_GRAYSCALE_NUMBER:
                pixels = pixels[..., 0]
            Image.fromarray(pixels).save(
                os.path.join(image_dir, coco_image_name(split, number) + '.jpg'))
            if number != unannotated:
                Image.fromarray(coco_label(number, size)).save(
                    os.path.join(mask_dir, f'{number:012d}.png'))
    return coco
