"""Semantic segmentation datasets: the 8 training-free benchmarks and custom folders.

Each dataset reads the usual on-disk layout (see ``docs/datasets.md``); only
``data_root`` is required, every other argument has the benchmark default
(images / annotations under ``data_root``, split file or suffix, classes):

* ``PascalVOCDataset``: JPEGImages / SegmentationClass, ImageSets/Segmentation/val.txt, 21.
* ``PascalVOC20Dataset``: the same with ``reduce_zero_label`` (background ignored), 20.
* ``PascalContext60Dataset``: JPEGImages / SegmentationClassContext (VOC2010),
  ImageSets/SegmentationContext/val.txt, 60.
* ``PascalContext59Dataset``: the same with ``reduce_zero_label``, 59.
* ``COCOObjectDataset``: images/val2017 / annotations/val2017, ``*_instanceTrainIds.png``, 81.
* ``COCOStuffDataset``: images/val2017 / annotations/val2017, ``*_labelTrainIds.png``, 171.
* ``CityscapesDataset``: leftImg8bit/val / gtFine/val, ``*_gtFine_labelTrainIds.png``, 19.
* ``ADE20KDataset``: images/validation / annotations/validation, ``reduce_zero_label``, 150.
* ``COCO2014Dataset``: JPEGImages/val2014 / SegmentationClass/val2014, VOC-style class-index
  masks named by image number (the WSSS layout), 81.

Samples are dicts ``img_path``, ``seg_map_path``, ``reduce_zero_label``,
``seg_fields`` (plus ``classnames`` and ``sample_idx`` added on access);
``LoadImageFromFile`` and ``LoadSegAnnotations`` read the files.
"""
from __future__ import annotations

import copy
import os
from typing import Any

from ovperception.datasets.base import (DatasetNotFoundError, OVBaseDataset, read_ids,
                                        require_path)
from ovperception.registry import DATASETS


def _layout(img_dir: str, seg_dir: str, ann_file: str = '', img_suffix: str = '.jpg',
            seg_map_suffix: str = '.png', reduce_zero_label: bool = False) -> dict[str, Any]:
    """The ``DEFAULTS`` of a dataset class."""
    return dict(ann_file=ann_file, data_prefix=dict(img_path=img_dir, seg_map_path=seg_dir),
                img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                reduce_zero_label=reduce_zero_label)


def _scan(directory: str, suffix: str) -> list[str]:
    """Relative paths (without ``suffix``) of files under ``directory`` ending in ``suffix``."""
    stems = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(suffix) and not name.startswith('.'):
                rel = os.path.relpath(os.path.join(root, name), directory)
                stems.append(rel[:len(rel) - len(suffix)])
    return stems


@DATASETS.register_module()
class OVSegDataset(OVBaseDataset):
    """Image folder + label-map folder (+ optional split file) semantic dataset.

    Subclasses set ``DEFAULTS`` (``ann_file``, ``data_prefix``, ``img_suffix``,
    ``seg_map_suffix``, ``reduce_zero_label``) and ``CLASSNAMES_FILE``; any
    argument given explicitly wins over the default.

    Args:
        ann_file: split file with one image name (without suffix) per line,
            relative to ``data_root``; ``''`` scans the image folder recursively.
        data_prefix: ``dict(img_path=..., seg_map_path=...)`` relative to
            ``data_root``; ``seg_map_path=None`` for images without labels.
        img_suffix: image file ending (``'.jpg'``, ``'_leftImg8bit.png'``).
        seg_map_suffix: label-map file ending (``'.png'``, ``'_labelTrainIds.png'``).
        reduce_zero_label: label 0 is "ignore" and other labels shift by -1
            (applied by ``LoadSegAnnotations``).
        ignore_index: label of ignored pixels after loading.
        **kwargs: ``data_root``, ``classnames_file``, ``classnames``,
            ``pipeline``, ``test_mode`` ... (see ``OVBaseDataset``).
    """

    DEFAULTS: dict[str, Any] = _layout('', '')

    def __init__(self, **kwargs: Any) -> None:
        options = copy.deepcopy(self.DEFAULTS)
        options.update({k: v for k, v in kwargs.items() if k in self.DEFAULTS})
        rest = {k: v for k, v in kwargs.items() if k not in self.DEFAULTS}
        self.img_suffix: str = options.pop('img_suffix')
        self.seg_map_suffix: str = options.pop('seg_map_suffix')
        self.reduce_zero_label: bool = bool(options.pop('reduce_zero_label'))
        self.ignore_index: int = int(rest.pop('ignore_index', 255))
        # mmengine only accepts string prefixes: an unlabelled dataset has no seg_map_path
        options['data_prefix'] = {k: v for k, v in options['data_prefix'].items()
                                  if v is not None}
        super().__init__(**options, **rest)
        self._metainfo.update(reduce_zero_label=self.reduce_zero_label,
                              ignore_index=self.ignore_index)

    def load_data_list(self) -> list[dict]:
        """List the samples; fail early, naming the path, when the layout is wrong."""
        name = type(self).__name__
        if self.data_root:
            require_path(self.data_root, 'data_root', name)
        img_dir = require_path(self.data_prefix.get('img_path', ''), 'image folder', name)
        seg_dir = self.data_prefix.get('seg_map_path')
        if seg_dir is not None:
            require_path(seg_dir, 'annotation folder', name)
        if self.ann_file:
            require_path(self.ann_file, 'split file', name)
            stems = read_ids(self.ann_file)
        else:
            stems = self._scan_stems(img_dir, seg_dir)
        if not stems:
            source = self.ann_file or f'{img_dir} (files ending in {self.img_suffix!r})'
            raise DatasetNotFoundError(f'{name}: no images listed in {source}')
        data_list = [
            dict(img_path=os.path.join(img_dir, stem + self.img_suffix),
                 seg_map_path=(None if seg_dir is None else
                               os.path.join(seg_dir, self.seg_map_stem(stem)
                                            + self.seg_map_suffix)),
                 reduce_zero_label=self.reduce_zero_label, seg_fields=[]) for stem in stems
        ]
        first = data_list[0]
        require_path(first['img_path'], 'image file (check img_suffix)', name)
        if first['seg_map_path'] is not None:
            require_path(first['seg_map_path'], 'annotation file (check seg_map_suffix)', name)
        return data_list

    def seg_map_stem(self, stem: str) -> str:
        """The label map's name (relative, without suffix) of the image named ``stem``."""
        return stem

    def _scan_stems(self, img_dir: str, seg_dir: str | None) -> list[str]:
        """The images of a dataset without split file: every image under ``img_dir``."""
        return _scan(img_dir, self.img_suffix)


@DATASETS.register_module()
class FolderSegDataset(OVSegDataset):
    """A custom dataset: images in one folder, label maps with the same names in another.

    Args:
        img_dir: image folder (searched recursively).
        seg_dir: label-map folder mirroring ``img_dir``; ``None`` for unlabelled images.
        img_suffix: image file ending.
        seg_suffix: label-map file ending.
        classnames_file: class-name file (path or shipped bare name).
        **kwargs: ``classnames``, ``reduce_zero_label``, ``ann_file``, ``pipeline`` ...
    """

    def __init__(self, img_dir: str, seg_dir: str | None = None, img_suffix: str = '.jpg',
                 seg_suffix: str = '.png', classnames_file: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data_prefix=dict(img_path=img_dir, seg_map_path=seg_dir),
                         img_suffix=img_suffix, seg_map_suffix=seg_suffix,
                         classnames_file=classnames_file, **kwargs)


@DATASETS.register_module()
class PascalVOCDataset(OVSegDataset):
    """Pascal VOC 2012 with background (21 classes); labels are palette PNG indices."""

    CLASSNAMES_FILE = 'voc21'
    DEFAULTS = _layout('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation/val.txt')


@DATASETS.register_module()
class PascalVOC20Dataset(PascalVOCDataset):
    """Pascal VOC 2012 without background (20 classes, background ignored)."""

    CLASSNAMES_FILE = 'voc20'
    DEFAULTS = dict(PascalVOCDataset.DEFAULTS, reduce_zero_label=True)


@DATASETS.register_module()
class PascalContext60Dataset(OVSegDataset):
    """Pascal Context (VOC2010) with background, 60 classes."""

    CLASSNAMES_FILE = 'context60'
    DEFAULTS = _layout('JPEGImages', 'SegmentationClassContext',
                       'ImageSets/SegmentationContext/val.txt')


@DATASETS.register_module()
class PascalContext59Dataset(PascalContext60Dataset):
    """Pascal Context (VOC2010) without background, 59 classes."""

    CLASSNAMES_FILE = 'context59'
    DEFAULTS = dict(PascalContext60Dataset.DEFAULTS, reduce_zero_label=True)


@DATASETS.register_module()
class COCOStuffDataset(OVSegDataset):
    """COCO-Stuff164k, 171 classes (``*_labelTrainIds.png``, 255 = ignore)."""

    CLASSNAMES_FILE = 'coco_stuff'
    DEFAULTS = _layout('images/val2017', 'annotations/val2017',
                       seg_map_suffix='_labelTrainIds.png')


@DATASETS.register_module()
class COCOObjectDataset(COCOStuffDataset):
    """COCO-Object: background + 80 things (``*_instanceTrainIds.png``, see
    ``tools/convert_coco_object.py``)."""

    CLASSNAMES_FILE = 'coco_object'
    DEFAULTS = dict(COCOStuffDataset.DEFAULTS, seg_map_suffix='_instanceTrainIds.png')


@DATASETS.register_module()
class CityscapesDataset(OVSegDataset):
    """Cityscapes fine annotations, 19 train ids (``*_gtFine_labelTrainIds.png``)."""

    CLASSNAMES_FILE = 'cityscapes'
    DEFAULTS = _layout('leftImg8bit/val', 'gtFine/val', img_suffix='_leftImg8bit.png',
                       seg_map_suffix='_gtFine_labelTrainIds.png')


@DATASETS.register_module()
class ADE20KDataset(OVSegDataset):
    """ADE20K (SceneParsing) validation, 150 classes; value 0 ("other") is ignored."""

    CLASSNAMES_FILE = 'ade20k'
    DEFAULTS = _layout('images/validation', 'annotations/validation', reduce_zero_label=True)


@DATASETS.register_module()
class PascalVOCAugDataset(PascalVOCDataset):
    """Pascal VOC 2012 + SBD ``train_aug`` (10,582 images), labels from
    ``SegmentationClassAug`` (made by ``tools/make_voc_aug.py``): the WSSS training set."""

    DEFAULTS = _layout('JPEGImages', 'SegmentationClassAug',
                       'ImageSets/Segmentation/train_aug.txt')


@DATASETS.register_module()
class COCO2014Dataset(OVSegDataset):
    """MS COCO 2014 with VOC-style class-index masks, the WSSS layout (ExCEL, WeCLIP, ToCo):
    ``JPEGImages/{train,val}2014/COCO_val2014_000000000042.jpg`` and
    ``SegmentationClass/{train,val}2014/000000000042.png`` (the mask is named by the image
    number: the image name after its last ``_``), 8-bit 0 background, 1..80 the COCO things
    in category order, 255 ignore. Made by the coco2voc scripts (github.com/alicranck/coco2voc)
    or downloaded as the ExCEL README says.

    Without ``ann_file`` the images that have a mask are listed (images without any object
    annotation get none); a split file lists image names (``COCO_val2014_...``), one a line.
    Defaults: val2014, class names ``coco_object``.
    """

    CLASSNAMES_FILE = 'coco_object'
    DEFAULTS = _layout('JPEGImages/val2014', 'SegmentationClass/val2014')

    def seg_map_stem(self, stem: str) -> str:
        """``COCO_val2014_000000000042`` -> ``000000000042`` (in the image's folder)."""
        folder, name = os.path.split(stem)
        return os.path.join(folder, name.rsplit('_', 1)[-1])

    def _scan_stems(self, img_dir: str, seg_dir: str | None) -> list[str]:
        """The images under ``img_dir`` whose mask exists in ``seg_dir``."""
        stems = super()._scan_stems(img_dir, seg_dir)
        if seg_dir is None:
            return stems
        return [stem for stem in stems if os.path.isfile(
            os.path.join(seg_dir, self.seg_map_stem(stem) + self.seg_map_suffix))]
