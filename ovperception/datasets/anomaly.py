"""Anomaly detection datasets (MVTec AD, VisA, your own folders) and their transforms.

Samples are dicts ``img_path``, ``mask_path`` (None for normal images),
``gt_label`` (0 normal / 1 anomalous), ``category`` and ``classnames`` =
``[object name]`` (the words the state prompts are built from, e.g.
``'metal nut'`` for ``metal_nut``). Test pipeline::

    [dict(type='LoadImageFromFile'), dict(type='LoadAnomalyMask'),
     dict(type='ResizeAnomaly', size=(240, 240)), dict(type='PackAnomalyInputs')]

On-disk layouts:

* MVTec AD: ``root/<category>/{train/good, test/<defect>, ground_truth/<defect>}``
  with masks ``ground_truth/<defect>/<stem>_mask.png``; ``test/good`` has no masks.
* VisA: ``root/split_csv/1cls.csv`` with columns ``object,split,label,image,mask``
  (label ``normal`` / ``anomaly``; paths relative to ``root``), the layout written
  by VisA's ``prepare_data.py``.
"""
from __future__ import annotations

import copy
import csv
import os
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from mmengine.structures import PixelData

from ovperception.datasets.base import DatasetNotFoundError, OVBaseDataset, require_path
from ovperception.datasets.transforms import BaseTransform, PackOVInputs
from ovperception.models.anomaly.prompts import object_name
from ovperception.registry import DATASETS, TRANSFORMS
from ovperception.utils.image_files import image_names
from ovperception.utils.image_io import load_label_map

MVTEC_CATEGORIES: tuple[str, ...] = (
    'bottle', 'cable', 'capsule', 'carpet', 'grid', 'hazelnut', 'leather', 'metal_nut', 'pill',
    'screw', 'tile', 'toothbrush', 'transistor', 'wood', 'zipper')
VISA_CATEGORIES: tuple[str, ...] = (
    'candle', 'capsules', 'cashew', 'chewinggum', 'fryum', 'macaroni1', 'macaroni2', 'pcb1',
    'pcb2', 'pcb3', 'pcb4', 'pipe_fryum')


class AnomalyDataset(OVBaseDataset):
    """Base of the anomaly datasets: per-sample object name as the vocabulary.

    Args:
        categories: category folder names (default: every category of the benchmark).
        split: ``'test'`` (normal + anomalous with masks) or ``'train'`` (normal only).
        object_names: the object name each sample is prompted with: ``'words'`` (readable
            words, :func:`object_name`: ``metal_nut`` -> ``metal nut``, ``pcb1`` -> ``printed
            circuit board``) or ``'category'`` (the folder name as it is, as AdaCLIP's release
            prompts: ``metal_nut``, ``pcb1``).
        category_pool: give every sample ``category_pool``, the records of its category (for
            ``AnomalyMosaic``).
        **kwargs: ``data_root``, ``pipeline``, ``test_mode``, ``indices`` ...
    """

    CATEGORIES: tuple[str, ...] = ()
    OBJECT_NAME_STYLES = ('words', 'category')

    def __init__(self, categories: Sequence[str] | None = None, split: str = 'test',
                 object_names: str = 'words', category_pool: bool = False,
                 **kwargs: Any) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if object_names not in self.OBJECT_NAME_STYLES:
            raise ValueError(f'object_names must be one of {self.OBJECT_NAME_STYLES}, got '
                             f'{object_names!r}')
        self.categories = tuple(categories or self.CATEGORIES)
        if isinstance(categories, str):
            self.categories = (categories,)
        self.split = split
        self.object_names = object_names
        self.category_pool = bool(category_pool)
        self._pools: dict[str, list[dict]] | None = None
        names = list(dict.fromkeys(self.object_name_of(c) for c in self.categories))
        super().__init__(classnames=names, **kwargs)

    def object_name_of(self, category: str) -> str:
        """The object name ``category``'s samples are prompted with (``object_names``)."""
        return category if self.object_names == 'category' else object_name(category)

    def get_data_info(self, idx: int) -> dict:
        """The record of sample ``idx``; its vocabulary is its own object name."""
        info = super().get_data_info(idx)
        info['classnames'] = [self.object_name_of(info['category'])]
        if self.category_pool:
            if self._pools is None:
                self._pools = {}
                for index in range(len(self)):
                    record = super().get_data_info(index)
                    self._pools.setdefault(record['category'], []).append(record)
            info['category_pool'] = self._pools[info['category']]
        return info

    def normal_training_records(self, category: str) -> list[dict]:
        """The normal images of ``category``'s training split (few-shot references).

        MVTec AD: ``<category>/train/good``; VisA: the ``train`` rows of the split file.
        """
        train = copy.copy(self)
        train.split, train.categories = 'train', (category,)
        return [r for r in train.load_data_list() if not r['gt_label']]

    def _record(self, img_path: str, mask_path: str | None, category: str) -> dict:
        return dict(img_path=img_path, mask_path=mask_path, category=category,
                    gt_label=int(mask_path is not None), seg_fields=[])


@DATASETS.register_module()
class MVTecADDataset(AnomalyDataset):
    """MVTec AD (``root/<category>/{train,test,ground_truth}``)."""

    CATEGORIES = MVTEC_CATEGORIES

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        require_path(self.data_root, 'data_root', name)
        records = []
        for category in self.categories:
            split_dir = require_path(os.path.join(self.data_root, category, self.split),
                                     f'{self.split} folder of category {category!r}', name)
            for defect in sorted(os.listdir(split_dir)):
                folder = os.path.join(split_dir, defect)
                if not os.path.isdir(folder):
                    continue
                for file in image_names(folder):
                    mask = None
                    if defect != 'good':
                        stem = os.path.splitext(file)[0]
                        mask = os.path.join(self.data_root, category, 'ground_truth', defect,
                                            f'{stem}_mask.png')
                        require_path(mask, f'mask of {os.path.join(folder, file)}', name)
                    records.append(self._record(os.path.join(folder, file), mask, category))
        if not records:
            raise DatasetNotFoundError(f'{name}: no images under {self.data_root} for '
                                       f'categories {list(self.categories)} ({self.split})')
        return records


@DATASETS.register_module()
class VisADataset(AnomalyDataset):
    """VisA with its split file (``split_csv/1cls.csv``: object,split,label,image,mask).

    Args:
        split_file: csv path relative to ``data_root``.
    """

    CATEGORIES = VISA_CATEGORIES

    def __init__(self, split_file: str = 'split_csv/1cls.csv', **kwargs: Any) -> None:
        self.split_file = split_file
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        require_path(self.data_root, 'data_root', name)
        path = require_path(os.path.join(self.data_root, self.split_file), 'split file', name)
        wanted = set(self.categories)
        records = []
        with open(path, newline='', encoding='utf-8') as handle:
            reader = csv.DictReader(handle)
            missing = {'object', 'split', 'label', 'image', 'mask'} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f'{name}: split file {path} lacks columns {sorted(missing)}')
            for row in reader:
                if row['object'] not in wanted or row['split'] != self.split:
                    continue
                anomalous = row['label'].strip().lower() == 'anomaly'
                mask = os.path.join(self.data_root, row['mask']) if anomalous else None
                if anomalous and not row['mask'].strip():
                    raise ValueError(f'{name}: anomalous image {row["image"]} has no mask in '
                                     f'{path}')
                records.append(self._record(os.path.join(self.data_root, row['image']), mask,
                                            row['object']))
        if not records:
            raise DatasetNotFoundError(f'{name}: no {self.split} rows for categories '
                                       f'{sorted(wanted)} in {path}')
        return records


@DATASETS.register_module()
class FolderAnomalyDataset(AnomalyDataset):
    """Your own images, anomalib ``Folder`` style: a folder of normal and one of anomalous
    test images, optional masks, optional normal references for the few-shot memory.

    Layout (paths relative to ``data_root``)::

        normal_dir/     good images               (test, label 0)
        abnormal_dir/   defective images          (test, label 1)
        mask_dir/       masks of abnormal images  (optional; same stem, ``.png``, or
                        ``<stem>_mask.png``; non-zero = anomalous)
        reference_dir/  more good images          (optional; WinCLIP+ few-shot memory,
                        kept apart from the test images)

    Without ``mask_dir`` the samples carry no pixel ground truth: image metrics are
    computed, pixel metrics come out as nan (they need masks).

    Args:
        normal_dir: folder of normal test images (None: none).
        abnormal_dir: folder of anomalous test images (None: none).
        mask_dir: folder of masks for the anomalous images.
        reference_dir: folder of normal images the few-shot memory is drawn from
            (``split='train'`` lists them).
        category: the category / object name the prompts use (e.g. ``'screw'``).
        **kwargs: ``data_root``, ``pipeline``, ``test_mode``, ``split`` ...
    """

    def __init__(self, normal_dir: str | None = 'good', abnormal_dir: str | None = None,
                 mask_dir: str | None = None, reference_dir: str | None = None,
                 category: str = 'object', **kwargs: Any) -> None:
        if normal_dir is None and abnormal_dir is None:
            raise ValueError('FolderAnomalyDataset needs normal_dir and/or abnormal_dir')
        if mask_dir is not None and abnormal_dir is None:
            raise ValueError('FolderAnomalyDataset: mask_dir is given but abnormal_dir is not')
        self.normal_dir, self.abnormal_dir = normal_dir, abnormal_dir
        self.mask_dir, self.reference_dir = mask_dir, reference_dir
        super().__init__(categories=(category,), **kwargs)

    def _folder(self, folder: str, what: str) -> tuple[str, list[str]]:
        path = require_path(os.path.join(self.data_root, folder), what,
                            type(self).__name__)
        files = image_names(path)
        if not files:
            raise DatasetNotFoundError(f'{type(self).__name__}: no images in {what} {path}')
        return path, files

    def _mask_of(self, image_file: str, masks: dict[str, str]) -> str:
        stem = os.path.splitext(image_file)[0]
        for key in (stem, f'{stem}_mask'):
            if key in masks:
                return masks[key]
        raise DatasetNotFoundError(
            f'{type(self).__name__}: no mask for {image_file} in {self.mask_dir} (expected '
            f'{stem}.png or {stem}_mask.png)')

    def load_data_list(self) -> list[dict]:
        require_path(self.data_root, 'data_root', type(self).__name__)
        category = self.categories[0]
        if self.split == 'train':
            if self.reference_dir is None:
                raise ValueError(f'{type(self).__name__}: few-shot references need '
                                 'reference_dir (normal images kept apart from the test set)')
            path, files = self._folder(self.reference_dir, 'reference_dir')
            return [self._record(os.path.join(path, f), None, category) for f in files]
        records = []
        if self.normal_dir is not None:
            path, files = self._folder(self.normal_dir, 'normal_dir')
            records += [self._record(os.path.join(path, f), None, category) for f in files]
        if self.abnormal_dir is not None:
            path, files = self._folder(self.abnormal_dir, 'abnormal_dir')
            masks: dict[str, str] = {}
            if self.mask_dir is not None:
                mask_path, mask_files = self._folder(self.mask_dir, 'mask_dir')
                masks = {os.path.splitext(f)[0]: os.path.join(mask_path, f) for f in mask_files}
            for file in files:
                mask = self._mask_of(file, masks) if masks else None
                record = self._record(os.path.join(path, file), mask, category)
                record['gt_label'] = 1
                records.append(record)
        if self.mask_dir is None:
            for record in records:  # no pixel ground truth at all (not "all normal")
                record['no_mask'] = True
        return records


# ---------------------------------------------------------------- transforms
@TRANSFORMS.register_module()
class LoadAnomalyMask(BaseTransform):
    """Read ``mask_path`` into ``gt_anomaly_mask`` (H, W) uint8 {0, 1} (non-zero = anomalous).

    A sample without ``mask_path`` (normal images, single-image inference) gets an all-zero
    mask; a sample that already holds a ``gt_anomaly_mask`` array (synthetic data) keeps it;
    a sample marked ``no_mask`` (a folder dataset without masks) gets none.
    ``gt_label`` defaults to ``mask.any()``.

    Raises:
        ValueError: the mask size differs from the image size (naming both files).
    """

    def transform(self, results: dict) -> dict:
        if results.get('no_mask'):
            return results
        height, width = results['img'].shape[:2]
        mask = results.get('gt_anomaly_mask')
        if mask is None and results.get('mask_path'):
            mask = (load_label_map(results['mask_path']) > 0).astype(np.uint8)
        if mask is None:
            mask = np.zeros((height, width), dtype=np.uint8)
        if mask.shape[:2] != (height, width):
            raise ValueError(f'anomaly mask {results.get("mask_path", "(in memory)")} is '
                             f'{mask.shape[1]}x{mask.shape[0]} but image '
                             f'{results.get("img_path")} is {width}x{height}: masks must have '
                             'the size of their image')
        results['gt_anomaly_mask'] = (mask > 0).astype(np.uint8)
        results.setdefault('gt_label', int(mask.any()))
        return results


@TRANSFORMS.register_module()
class ResizeAnomaly(BaseTransform):
    """Resize the image (bicubic) and its mask (bilinear, then > 0.5).

    Either to a fixed ``size`` or, with ``short_edge``, keeping the aspect ratio (the shorter
    side becomes ``short_edge``, the longer one ``int(short_edge * long / short)``, as
    torchvision's ``Resize(int)``; AnomalyDINO's 448 px).

    Args:
        size: (height, width), e.g. (240, 240) for WinCLIP, (518, 518) for AnomalyCLIP.
        short_edge: target of the shorter side instead of ``size``.
        backend: ``'cv2'`` (``INTER_CUBIC``, no antialiasing) or ``'pillow'`` (PIL's bicubic
            filter, antialiased when shrinking: what torchvision's ``Resize`` does on PIL
            images, as in AnomalyDINO).
    """

    BACKENDS = ('cv2', 'pillow')

    def __init__(self, size: int | Sequence[int] | None = None, *,
                 short_edge: int | None = None, backend: str = 'cv2') -> None:
        if (size is None) == (short_edge is None):
            raise ValueError('ResizeAnomaly needs exactly one of size and short_edge')
        if backend not in self.BACKENDS:
            raise ValueError(f'ResizeAnomaly backend must be one of {self.BACKENDS}, got '
                             f'{backend!r}')
        self.size = None if size is None else (
            (int(size), int(size)) if isinstance(size, int) else tuple(map(int, size)))
        self.short_edge = None if short_edge is None else int(short_edge)
        self.backend = backend

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) for an (h, w) image."""
        if self.size is not None:
            return self.size
        if h <= w:
            return self.short_edge, int(self.short_edge * w / h)
        return int(self.short_edge * h / w), self.short_edge

    def _resize_image(self, img: np.ndarray, height: int, width: int) -> np.ndarray:
        if self.backend == 'pillow':
            from PIL import Image
            return np.asarray(Image.fromarray(img).resize((width, height), Image.BICUBIC))
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        height, width = self.target_size(h, w)
        if (h, w) != (height, width):
            results['img'] = self._resize_image(img, height, width)
            mask = results.get('gt_anomaly_mask')
            if mask is not None:
                resized = cv2.resize(mask.astype(np.float32), (width, height),
                                     interpolation=cv2.INTER_LINEAR)
                results['gt_anomaly_mask'] = (resized > 0.5).astype(np.uint8)
        results['img_shape'] = (height, width)
        results['scale_factor'] = (height / h, width / w)
        return results


@TRANSFORMS.register_module()
class PackAnomalyInputs(PackOVInputs):
    """:class:`PackOVInputs` plus ``gt_anomaly_map`` (1, H, W) float and ``gt_score``."""

    DEFAULT_META_KEYS = PackOVInputs.DEFAULT_META_KEYS + ('category', 'mask_path')

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        sample = packed['data_samples']
        mask = results.get('gt_anomaly_mask')
        if mask is not None:
            sample.gt_anomaly_map = PixelData(data=torch.from_numpy(
                np.ascontiguousarray(mask[None]).astype(np.float32)))
        if 'gt_label' in results:
            sample.gt_score = torch.tensor(float(results['gt_label']))
        return packed
