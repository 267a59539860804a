"""CountBench (Paiss et al., 2023) from a local folder, and generated captioned dot scenes.

CountBench is published as a list of image URLs, each with a caption that states a count
from two to ten and that count. Many URLs have gone dead, so the benchmark is read from a
local copy (docs/datasets.md, "CountBench")::

    data/countbench/
      CountBench.json    # [{"image_url": ..., "text": ..., "number": 3}, ...] (the release)
      images/            # the downloaded images, named by their index in the list:
                         # 0.jpg, 1.png ... (any image suffix; or a "file_name" per record)

Records whose image is missing are left out, with one warning that says how many; a
record whose caption does not state its number is an error (a corrupt annotation file).
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.logging import print_log

from ovperception.datasets.base import OVBaseDataset, require_path
from ovperception.datasets.synthetic_counting import make_dot_image
from ovperception.datasets.transforms import PackOVInputs
from ovperception.models.counting.number_words import NUMBER_WORDS, count_span
from ovperception.registry import DATASETS, TRANSFORMS
from ovperception.utils.image_files import image_names

#: Metainfo keys of a captioned counting sample.
CAPTION_META_KEYS = ('caption', 'count_number')


@TRANSFORMS.register_module()
class PackCaptionCountInputs(PackOVInputs):
    """:class:`PackOVInputs` plus ``caption`` and ``count_number`` in the metainfo and
    ``gt_count`` = ``[count_number]`` (one count per image, as CountBench scores it)."""

    DEFAULT_META_KEYS = PackOVInputs.DEFAULT_META_KEYS + CAPTION_META_KEYS

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if results.get('count_number') is not None:
            packed['data_samples'].gt_count = torch.tensor([float(results['count_number'])])
        return packed


def _images_by_stem(folder: str) -> dict[str, str]:
    """``{name without suffix: path}`` of the images in ``folder`` (any image suffix, any
    case); of two with one stem (``3.jpg``, ``3.png``), the first name in sorted order."""
    by_stem: dict[str, str] = {}
    for name in image_names(folder):
        by_stem.setdefault(os.path.splitext(name)[0], os.path.join(folder, name))
    return by_stem


def _find_image(folder: str, index: int, record: dict, by_stem: dict[str, str]) -> str | None:
    """The image file of record ``index``: its ``file_name``, else ``<index>.<suffix>``
    (``by_stem``: :func:`_images_by_stem` of ``folder``)."""
    if record.get('file_name'):
        path = os.path.join(folder, str(record['file_name']))
        return path if os.path.isfile(path) else None
    return by_stem.get(str(index))


@DATASETS.register_module()
class CountBenchDataset(OVBaseDataset):
    """CountBench from a local folder (layout in the module docstring).

    Each sample: ``img_path``, ``caption`` (the release's ``text``), ``count_number`` (its
    ``number``) and the one-name vocabulary ``['object']`` (CountBench names no class; the
    count is read from the caption).

    Args:
        data_root: the folder holding ``ann_file`` and the image folder.
        ann_file: the release's JSON list.
        img_dir: image folder, relative to ``data_root``.
        **kwargs: forwarded to :class:`OVBaseDataset` (``pipeline``, ``test_mode`` ...).
    """

    METAINFO = dict(classes=('object',), classnames=['object'])

    def __init__(self, data_root: str = 'data/countbench', ann_file: str = 'CountBench.json',
                 img_dir: str = 'images', **kwargs: Any) -> None:
        self.img_dir = img_dir
        super().__init__(data_root=data_root, ann_file=ann_file, serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Records with an image on disk, in release order."""
        path = require_path(self.ann_file, 'annotation file', type(self).__name__)
        folder = require_path(os.path.join(self.data_root, self.img_dir), 'image folder',
                              type(self).__name__)
        with open(path, encoding='utf-8') as handle:
            records = json.load(handle)
        if not isinstance(records, list):
            raise ValueError(f'{path}: expected a JSON list of {{"text", "number"}} records')
        data_list, missing, by_stem = [], 0, _images_by_stem(folder)
        for index, record in enumerate(records):
            caption, number = record.get('text'), record.get('number')
            if not isinstance(caption, str) or not isinstance(number, int):
                raise ValueError(f'{path}: record {index} needs a "text" string and an '
                                 f'integer "number", got {record!r}')
            count_span(caption, number)  # raises when the caption does not state it
            image = _find_image(folder, index, record, by_stem)
            if image is None:
                missing += 1
                continue
            data_list.append(dict(img_path=image, caption=caption, count_number=number,
                                  record_index=index))
        if missing:
            print_log(f'CountBench: {missing} of {len(records)} images are missing under '
                      f'{folder} (dead URLs?); evaluating the other {len(data_list)}',
                      logger='current', level=30)
        if not data_list:
            raise ValueError(f'CountBench: none of the {len(records)} images of {path} is in '
                             f'{folder}')
        return data_list


def dot_caption(number: int, colour: str) -> str:
    """The caption of a generated scene: ``'a photo of three red dots.'``."""
    return f'a photo of {NUMBER_WORDS[number]} {colour} dots.'


@DATASETS.register_module()
class SyntheticCountCaptionDataset(OVBaseDataset):
    """Generated scenes of 2 .. 10 same-coloured dots with a caption stating the count.

    Sample ``i`` of seed ``s``: the colour and the count come from
    ``np.random.default_rng([s, i, 1])``, the picture from :func:`make_dot_image`. The
    vocabulary is ``['<colour> dot', ...]`` (the demo's "how many red dots").

    Args:
        num_samples: dataset length.
        image_size: (H, W).
        colours: colours to draw from.
        min_count, max_count: range of the count (within two .. ten by default).
        radius: dot radius in pixels.
        seed: generator seed (held-out splits use another seed).
        **kwargs: forwarded to :class:`OVBaseDataset`.
    """

    def __init__(self, num_samples: int = 64, image_size: Sequence[int] = (64, 64),
                 colours: Sequence[str] = ('red', 'green', 'blue'), min_count: int = 2,
                 max_count: int = 10, radius: int = 4, seed: int = 0,
                 **kwargs: Any) -> None:
        if not 1 <= min_count <= max_count or max_count not in NUMBER_WORDS:
            raise ValueError(f'need 1 <= min_count <= max_count <= {max(NUMBER_WORDS)}, got '
                             f'{min_count}, {max_count}')
        self.num_samples, self.seed = int(num_samples), int(seed)
        self.colours, self.image_size = tuple(colours), tuple(image_size)
        self.count_range, self.radius = (int(min_count), int(max_count)), int(radius)
        kwargs.setdefault('classnames', [f'{colour} dot' for colour in self.colours])
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One light record per sample; pixels are generated on access."""
        return [dict(img_path=f'count_caption_{i:06d}.png', synthetic_index=i)
                for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        """The record of sample ``idx`` with its image, caption and count."""
        info = super().get_data_info(idx)
        index = info['synthetic_index']
        rng = np.random.default_rng([self.seed, index, 1])
        colour = self.colours[int(rng.integers(len(self.colours)))]
        number = int(rng.integers(self.count_range[0], self.count_range[1] + 1))
        img, points, _ = make_dot_image(index, self.seed, self.image_size, (colour,),
                                        number, number, self.radius)
        if len(points) != number:
            raise RuntimeError(f'{number} dots do not fit a {self.image_size} image with '
                               f'radius {self.radius}; use a larger image or smaller dots')
        info.update(img=img, caption=dot_caption(number, colour), count_number=number,
                    ori_shape=img.shape[:2], img_shape=img.shape[:2])
        return info


__all__ = ['CAPTION_META_KEYS', 'CountBenchDataset', 'PackCaptionCountInputs',
           'SyntheticCountCaptionDataset', 'dot_caption']
