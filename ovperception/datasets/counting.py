"""Counting datasets with point annotations: ShanghaiTech A/B, UCF-QNRF, NWPU-Crowd, FSC-147.

On-disk layouts (``data_root`` is the folder shown first; see ``docs/counting.md``):

* ShanghaiTech: ``part_A/train_data/images/IMG_1.jpg`` +
  ``part_A/train_data/ground-truth/GT_IMG_1.mat`` (``image_info``); ``test_data`` likewise.
* UCF-QNRF: ``Train/img_0001.jpg`` + ``Train/img_0001_ann.mat`` (``annPoints``); ``Test``.
* NWPU-Crowd: ``images/0001.jpg``, ``jsons/0001.json`` (``points``), ``train.txt`` /
  ``val.txt`` / ``test.txt`` (first token of a line = image id); test labels are not
  public, so test samples carry no ground truth.
* FSC-147: ``images_384_VarV2/2.jpg``, ``annotation_FSC147_384.json`` (``points``,
  ``box_examples_coordinates``), ``Train_Test_Val_FSC_147.json``,
  ``ImageClasses_FSC147.txt`` (``2.jpg<TAB>sea shells``); every image has its own
  one-class vocabulary (its class name).

Records hold ``img_path`` and either ``ann_path`` + ``ann_format`` (read by
``LoadPointAnnotations``) or in-memory ``gt_points``; coordinates are used as stored.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ovperception.datasets.base import (DatasetNotFoundError, OVBaseDataset, classnames_metainfo,
                                        require_path)
from ovperception.registry import DATASETS

ANN_FORMATS = ('shanghaitech_mat', 'qnrf_mat', 'nwpu_json')


class AnnotationError(ValueError):
    """A point annotation file is unreadable or malformed."""


def _as_points(values: Any, path: str) -> np.ndarray:
    points = np.asarray(values, dtype=np.float32)
    if points.size == 0:
        return np.zeros((0, 2), np.float32)
    if points.ndim != 2 or points.shape[1] < 2:
        raise AnnotationError(f'{path}: expected (N, 2) point coordinates, got {points.shape}')
    points = points[:, :2]
    if not np.isfinite(points).all():
        raise AnnotationError(f'{path}: non-finite point coordinates')
    return np.ascontiguousarray(points)


def read_point_annotation(path: str, ann_format: str) -> np.ndarray:
    """Read one image's points as (N, 2) float32 xy.

    Args:
        path: the annotation file.
        ann_format: ``'shanghaitech_mat'`` (``image_info[0,0][0,0][0]``),
            ``'qnrf_mat'`` (``annPoints``) or ``'nwpu_json'`` (``points``).

    Raises:
        FileNotFoundError: the file is missing.
        AnnotationError: the file does not hold the expected field.
    """
    if ann_format not in ANN_FORMATS:
        raise ValueError(f'unknown annotation format {ann_format!r}; choose from {ANN_FORMATS}')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'point annotation not found: {path}')
    try:
        if ann_format == 'nwpu_json':
            with open(path, encoding='utf-8') as handle:
                return _as_points(json.load(handle)['points'], path)
        from scipy.io import loadmat
        mat = loadmat(path)
        if ann_format == 'qnrf_mat':
            return _as_points(mat['annPoints'], path)
        return _as_points(mat['image_info'][0, 0][0, 0][0], path)
    except (KeyError, IndexError, TypeError, ValueError, OSError) as error:
        if isinstance(error, AnnotationError):
            raise
        raise AnnotationError(f'{path}: not a valid {ann_format} annotation '
                              f'({type(error).__name__}: {error})') from error


class PointCountingDataset(OVBaseDataset):
    """Base of the crowd datasets: one record per image, vocabulary ``['person']``."""

    METAINFO = classnames_metainfo(['person'])

    def _records(self, img_dir: str, stems: list[str], img_suffix: str,
                 ann_path_of: Any, ann_format: str | None) -> list[dict]:
        """Records of ``stems``; ``ann_path_of(stem)`` gives the annotation file or None."""
        name = type(self).__name__
        if not stems:
            raise DatasetNotFoundError(f'{name}: no images found in {img_dir}')
        records = []
        for stem in stems:
            ann_path = ann_path_of(stem) if ann_format else None
            records.append(dict(img_path=os.path.join(img_dir, stem + img_suffix),
                                ann_path=ann_path, ann_format=ann_format))
        require_path(records[0]['img_path'], 'image file', name)
        if records[0]['ann_path'] is not None:
            require_path(records[0]['ann_path'], 'annotation file', name)
        return records


def _stems(folder: str, suffix: str, exclude: str = '') -> list[str]:
    return sorted((f[:-len(suffix)] for f in os.listdir(folder)
                   if f.endswith(suffix) and not f.startswith('.')
                   and not (exclude and f.endswith(exclude))), key=_natural_key)


def _natural_key(text: str) -> tuple:
    digits = ''.join(c for c in text if c.isdigit())
    return (int(digits) if digits else -1, text)


@DATASETS.register_module()
class ShanghaiTechDataset(PointCountingDataset):
    """ShanghaiTech part A or B (``part='A'|'B'``, ``split='train'|'test'``)."""

    def __init__(self, *, part: str = 'A', split: str = 'test', **kwargs: Any) -> None:
        if part not in ('A', 'B') or split not in ('train', 'test'):
            raise ValueError(f"ShanghaiTechDataset: part 'A'|'B' and split 'train'|'test', got "
                             f'{part!r}, {split!r}')
        self.part, self.split = part, split
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        root = require_path(os.path.join(self.data_root, f'part_{self.part}',
                                         f'{self.split}_data'), 'split folder', name)
        img_dir = require_path(os.path.join(root, 'images'), 'image folder', name)
        gt_dir = require_path(os.path.join(root, 'ground-truth'), 'ground-truth folder', name)
        return self._records(img_dir, _stems(img_dir, '.jpg'), '.jpg',
                             lambda stem: os.path.join(gt_dir, f'GT_{stem}.mat'),
                             'shanghaitech_mat')


@DATASETS.register_module()
class UCFQNRFDataset(PointCountingDataset):
    """UCF-QNRF (``split='Train'|'Test'``)."""

    def __init__(self, *, split: str = 'Test', **kwargs: Any) -> None:
        if split not in ('Train', 'Test'):
            raise ValueError(f"UCFQNRFDataset: split must be 'Train' or 'Test', got {split!r}")
        self.split = split
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        folder = require_path(os.path.join(self.data_root, self.split), 'split folder',
                              type(self).__name__)
        return self._records(folder, _stems(folder, '.jpg'), '.jpg',
                             lambda stem: os.path.join(folder, f'{stem}_ann.mat'), 'qnrf_mat')


@DATASETS.register_module()
class NWPUCrowdDataset(PointCountingDataset):
    """NWPU-Crowd (``split='train'|'val'|'test'``; test images have no labels)."""

    def __init__(self, *, split: str = 'val', **kwargs: Any) -> None:
        if split not in ('train', 'val', 'test'):
            raise ValueError(f"NWPUCrowdDataset: split must be train, val or test, got {split!r}")
        self.split = split
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        split_file = require_path(os.path.join(self.data_root, f'{self.split}.txt'),
                                  'split file', name)
        img_dir = require_path(os.path.join(self.data_root, 'images'), 'image folder', name)
        with open(split_file, encoding='utf-8') as handle:
            stems = [line.split()[0] for line in handle if line.strip()]
        json_dir = os.path.join(self.data_root, 'jsons')
        labelled = self.split != 'test'
        if labelled:
            require_path(json_dir, 'jsons folder', name)
        return self._records(img_dir, stems, '.jpg',
                             lambda stem: os.path.join(json_dir, f'{stem}.json'),
                             'nwpu_json' if labelled else None)


@DATASETS.register_module()
class FSC147Dataset(OVBaseDataset):
    """FSC-147 class-agnostic counting (``split='train'|'val'|'test'``).

    Every record has its own vocabulary ``[class name]`` (``classnames`` of the sample),
    ``gt_points`` and the three ``exemplar_bboxes`` (E, 4) xyxy.
    """

    METAINFO = classnames_metainfo(['object'])

    def __init__(self, *, split: str = 'test', img_dir: str = 'images_384_VarV2',
                 ann_file: str = 'annotation_FSC147_384.json',
                 split_file: str = 'Train_Test_Val_FSC_147.json',
                 classes_file: str = 'ImageClasses_FSC147.txt', **kwargs: Any) -> None:
        if split not in ('train', 'val', 'test'):
            raise ValueError(f"FSC147Dataset: split must be train, val or test, got {split!r}")
        self.split, self.img_dir = split, img_dir
        self.files = dict(ann=ann_file, split=split_file, classes=classes_file)
        super().__init__(**kwargs)

    def _path(self, key: str, what: str) -> str:
        return require_path(os.path.join(self.data_root, self.files[key]), what,
                            type(self).__name__)

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        img_dir = require_path(os.path.join(self.data_root, self.img_dir), 'image folder', name)
        with open(self._path('split', 'split file'), encoding='utf-8') as handle:
            files = json.load(handle)[self.split]
        with open(self._path('ann', 'annotation file'), encoding='utf-8') as handle:
            annotations = json.load(handle)
        classes = {}
        with open(self._path('classes', 'class file'), encoding='utf-8') as handle:
            for line in handle:
                if line.strip():
                    file_name, class_name = line.rstrip('\n').split('\t', 1)
                    classes[file_name.strip()] = class_name.strip()
        records = []
        for file_name in files:
            if file_name not in annotations or file_name not in classes:
                raise DatasetNotFoundError(f'{name}: {file_name} has no annotation or class')
            ann = annotations[file_name]
            corners = np.asarray(ann.get('box_examples_coordinates', []),
                                 np.float32).reshape(-1, 4, 2)
            boxes = np.concatenate([corners.min(1), corners.max(1)], axis=1)
            records.append(dict(img_path=os.path.join(img_dir, file_name),
                                gt_points=_as_points(ann['points'], file_name),
                                exemplar_bboxes=boxes.reshape(-1, 4),
                                image_classnames=[classes[file_name]]))
        if not records:
            raise DatasetNotFoundError(f'{name}: the {self.split} split is empty')
        require_path(records[0]['img_path'], 'image file', name)
        return records

    def get_data_info(self, idx: int) -> dict:
        """The record with the image's own one-class vocabulary."""
        info = super().get_data_info(idx)
        info['classnames'] = list(info.pop('image_classnames'))
        return info


__all__ = ['read_point_annotation', 'AnnotationError', 'ShanghaiTechDataset', 'UCFQNRFDataset',
           'NWPUCrowdDataset', 'FSC147Dataset', 'PointCountingDataset']
