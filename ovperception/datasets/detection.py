"""COCO-format detection datasets: COCO, OV-COCO (48 base / 17 novel) and LVIS.

One reader serves every COCO-format instances file (COCO, LVIS v1, a user's own
export): each record holds ``img_path``, ``img_id``, ``height``, ``width`` and
mmdet-style ``instances`` (``bbox`` xyxy in pixels, ``bbox_label``, ``ignore_flag``
(crowd), ``mask`` as COCO polygons / RLE). Labels index the dataset vocabulary,
whose order is the category-id order of the file (restricted to
``category_names`` when given); ``metainfo['cat_ids']`` maps label -> category id.

OV-COCO (Bansal et al.): the split files ``classnames/ov_coco_base.txt`` (48) and
``ov_coco_novel.txt`` (17) name the categories. Training uses the base categories
(``category_names='ov_coco_base'``); evaluation uses all 65 ("generalized",
``category_names=['ov_coco_base', 'ov_coco_novel']``), and the metric reports AP50
on each part from ``metainfo['base_classes']`` / ``['novel_classes']``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ovperception.datasets.base import (ClassnamesError, OVBaseDataset, load_classnames,
                                        require_path)
from ovperception.registry import DATASETS

OV_COCO_BASE = 'ov_coco_base'
OV_COCO_NOVEL = 'ov_coco_novel'


def _read_json(path: str, dataset: str) -> dict:
    require_path(path, 'annotation file', dataset)
    with open(path, encoding='utf-8') as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f'{dataset}: {path} is not valid JSON ({error})') from error


def _category_names(spec: str | Sequence[str] | None) -> list[str] | None:
    """Category names from a class-name file (bare name or path), a list of files/names."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return load_classnames(spec)
    names: list[str] = []
    for item in spec:
        try:
            names.extend(load_classnames(item))
        except FileNotFoundError:
            names.append(item)
    return names


def display_name(category: dict) -> str:
    """A category's name with LVIS-style underscores as spaces (``'traffic_light'``)."""
    return str(category['name']).replace('_', ' ').strip()


@DATASETS.register_module()
class CocoDetDataset(OVBaseDataset):
    """COCO-format instances file + image folder.

    Args:
        ann_file: instances JSON (relative to ``data_root``).
        data_prefix: ``dict(img='val2017/')`` image folder (relative to ``data_root``).
        category_names: keep only these categories (names, class-name files such as
            ``'ov_coco_base'``, or a list of both); None keeps all, in id order.
        base_classes, novel_classes: names or class-name files of the OV split, stored
            in the metainfo for the metric (``OVCOCODataset`` fills them).
        filter_empty: drop images without (non-crowd) annotations (training only).
        min_size: drop boxes whose width or height is below this (pixels).
        **kwargs: ``data_root``, ``pipeline``, ``test_mode``, ``indices`` ... and
            ``classnames`` / ``classnames_file`` to override the display vocabulary (one
            entry per kept category, in order; synonyms allowed).
    """

    def __init__(self, ann_file: str = '', *, category_names: str | Sequence[str] | None = None,
                 base_classes: str | Sequence[str] | None = None,
                 novel_classes: str | Sequence[str] | None = None,
                 filter_empty: bool = False, min_size: float = 1.0,
                 data_prefix: dict | None = None, data_root: str | None = None,
                 classnames: Sequence[str] | None = None,
                 classnames_file: str | None = None, metainfo: dict | None = None,
                 **kwargs: Any) -> None:
        path = ann_file if not data_root or os.path.isabs(ann_file) else os.path.join(
            data_root, ann_file)
        self._coco = _read_json(path, type(self).__name__)
        self.filter_empty = filter_empty
        self.min_size = min_size
        categories = sorted(self._coco.get('categories', []), key=lambda c: c['id'])
        wanted = _category_names(category_names)
        if wanted is not None:
            by_name = {display_name(c).lower(): c for c in categories}
            missing = [n for n in wanted if n.split(';')[0].strip().lower() not in by_name]
            if missing:
                raise ClassnamesError(f'{type(self).__name__}: categories {missing[:10]} are not '
                                      f'in {path}')
            categories = [by_name[n.split(';')[0].strip().lower()] for n in wanted]
        if not categories:
            raise ClassnamesError(f'{type(self).__name__}: {path} holds no categories')
        self.categories = categories
        self.cat_ids = [int(c['id']) for c in categories]
        meta = dict(metainfo or {})
        meta.update(cat_ids=list(self.cat_ids), ann_file=path)
        if classnames is None and classnames_file is None:
            classnames = [display_name(c) for c in categories]
        for key, spec in (('base_classes', base_classes), ('novel_classes', novel_classes)):
            if spec is not None:
                meta[key] = tuple(n.split(';')[0].strip() for n in _category_names(spec))
        super().__init__(classnames=classnames, classnames_file=classnames_file, metainfo=meta,
                         data_prefix=data_prefix or dict(img=''), data_root=data_root, **kwargs)
        if len(self.classnames) != len(self.cat_ids):
            raise ClassnamesError(f'{type(self).__name__}: {len(self.classnames)} class names for '
                                  f'{len(self.cat_ids)} categories')

    def image_file_name(self, image: dict) -> str:
        """The file name of an ``images`` entry (COCO: ``file_name``)."""
        return image['file_name']

    def load_data_list(self) -> list[dict]:
        label_of = {cat_id: label for label, cat_id in enumerate(self.cat_ids)}
        per_image: dict[int, list[dict]] = {}
        for ann in self._coco.get('annotations', []):
            if ann['category_id'] not in label_of:
                continue
            x, y, w, h = (float(v) for v in ann['bbox'])
            if w < self.min_size or h < self.min_size:
                continue
            per_image.setdefault(int(ann['image_id']), []).append(dict(
                bbox=[x, y, x + w, y + h], bbox_label=label_of[ann['category_id']],
                ignore_flag=int(bool(ann.get('iscrowd', 0))),
                mask=ann.get('segmentation', [])))
        img_dir = self.data_prefix.get('img', '')
        records = []
        for image in self._coco.get('images', []):
            instances = per_image.get(int(image['id']), [])
            if self.filter_empty and not self.test_mode and not any(
                    not inst['ignore_flag'] for inst in instances):
                continue
            records.append(dict(img_path=os.path.join(img_dir, self.image_file_name(image)),
                                img_id=int(image['id']), height=int(image['height']),
                                width=int(image['width']), instances=instances))
        del self._coco  # the records hold everything needed
        return records


@DATASETS.register_module()
class OVCOCODataset(CocoDetDataset):
    """COCO with the OV-COCO 48/17 split.

    Args:
        split: ``'base'`` (48 categories; training), ``'novel'`` (17) or ``'all'``
            (65, generalized evaluation: the default).
        **kwargs: see :class:`CocoDetDataset`.
    """

    SPLITS = {'base': [OV_COCO_BASE], 'novel': [OV_COCO_NOVEL],
              'all': [OV_COCO_BASE, OV_COCO_NOVEL]}

    def __init__(self, ann_file: str = '', *, split: str = 'all', **kwargs: Any) -> None:
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {sorted(self.SPLITS)}, got {split!r}")
        kwargs.setdefault('category_names', self.SPLITS[split])
        kwargs.setdefault('base_classes', OV_COCO_BASE)
        kwargs.setdefault('novel_classes', OV_COCO_NOVEL)
        super().__init__(ann_file, **kwargs)


@DATASETS.register_module()
class LVISDetDataset(CocoDetDataset):
    """LVIS v1 (COCO-format JSON whose images carry ``coco_url``; categories ``frequency``).

    Images resolve to ``data_prefix.img`` + the last two parts of ``coco_url``
    (``train2017/000000391895.jpg``), as LVIS v1 shares COCO 2017's images.
    ``metainfo['frequencies']`` holds each label's ``'r'``/``'c'``/``'f'``; the
    rare categories are the novel ones of OV-LVIS (``novel_classes``).
    """

    def __init__(self, ann_file: str = '', **kwargs: Any) -> None:
        super().__init__(ann_file, **kwargs)
        frequencies = tuple(str(c.get('frequency', '')) for c in self.categories)
        self._metainfo.update(frequencies=frequencies)
        self._metainfo.setdefault('novel_classes', tuple(
            display_name(c) for c in self.categories if c.get('frequency') == 'r'))

    def image_file_name(self, image: dict) -> str:
        if 'coco_url' in image:
            return '/'.join(image['coco_url'].split('/')[-2:])
        return image['file_name']


__all__ = ['CocoDetDataset', 'OVCOCODataset', 'LVISDetDataset', 'display_name']
