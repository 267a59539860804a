"""PASCAL VOC 2012 augmented with SBD ("train_aug", 10,582 images): the training set of weakly
supervised segmentation (ExCEL, WeCLIP, ...), made from the public VOC 2012 and SBD releases.

* ``train_aug.txt`` = (VOC ``train`` | SBD ``train`` | SBD ``val``) - VOC ``val``, sorted
  (the list the WSSS repositories ship; 10,582 ids with the official releases).
* ``SegmentationClassAug/{id}.png``: an 8-bit class-index map for every id of VOC
  ``trainval`` and SBD ``train`` / ``val``: VOC's own ``SegmentationClass`` where it exists
  (palette indices, 255 on object boundaries), otherwise SBD's ``cls/{id}.mat``
  (``GTcls.Segmentation``, 0..20, no boundaries).

Layouts: ``VOC_ROOT`` = ``VOCdevkit/VOC2012`` (``ImageSets/Segmentation/{train,val}.txt``,
``SegmentationClass``); ``SBD_ROOT`` = ``benchmark_RELEASE/dataset`` (``train.txt``,
``val.txt``, ``cls/*.mat``).
"""
from __future__ import annotations

import os

import numpy as np

from ovperception.datasets.base import read_ids
from ovperception.utils.image_io import load_label_map

SPLIT_DIR = os.path.join('ImageSets', 'Segmentation')
AUG_LABEL_DIR = 'SegmentationClassAug'
TRAIN_AUG = 'train_aug'


def train_aug_ids(voc_root: str, sbd_root: str) -> list[str]:
    """Sorted (VOC train | SBD train | SBD val) - VOC val."""
    voc_split = os.path.join(voc_root, SPLIT_DIR)
    keep = set(read_ids(os.path.join(voc_split, 'train.txt')))
    for split in ('train', 'val'):
        keep.update(read_ids(os.path.join(sbd_root, f'{split}.txt')))
    return sorted(keep - set(read_ids(os.path.join(voc_split, 'val.txt'))))


def label_ids(voc_root: str, sbd_root: str) -> list[str]:
    """Every id that gets a ``SegmentationClassAug`` map: VOC trainval and SBD train/val."""
    ids: set[str] = set()
    for split in ('train', 'val'):
        ids.update(read_ids(os.path.join(voc_root, SPLIT_DIR, f'{split}.txt')))
        ids.update(read_ids(os.path.join(sbd_root, f'{split}.txt')))
    return sorted(ids)


def sbd_label(mat_path: str) -> np.ndarray:
    """(H, W) uint8 class indices of an SBD ``cls/*.mat`` file (``GTcls.Segmentation``)."""
    from scipy.io import loadmat
    mat = loadmat(mat_path, squeeze_me=True, struct_as_record=False)
    segmentation = getattr(mat.get('GTcls'), 'Segmentation', None)
    if segmentation is None or np.ndim(segmentation) != 2:
        raise ValueError(f'{mat_path}: not an SBD cls file (no 2-D GTcls.Segmentation)')
    return np.asarray(segmentation).astype(np.uint8)


def aug_label(image_id: str, voc_root: str, sbd_root: str) -> np.ndarray:
    """(H, W) uint8 label of ``image_id``: VOC's mask when it has one, else SBD's."""
    voc_path = os.path.join(voc_root, 'SegmentationClass', f'{image_id}.png')
    if os.path.exists(voc_path):
        return load_label_map(voc_path).astype(np.uint8)
    return sbd_label(os.path.join(sbd_root, 'cls', f'{image_id}.mat'))


def missing_inputs(voc_root: str, sbd_root: str) -> list[str]:
    """The split files among the inputs that do not exist."""
    files = [os.path.join(voc_root, SPLIT_DIR, f'{s}.txt') for s in ('train', 'val')]
    files += [os.path.join(sbd_root, f'{s}.txt') for s in ('train', 'val')]
    return [f for f in files if not os.path.isfile(f)]
