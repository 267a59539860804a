"""``TaggedImageDataset``: images + the ``--tags-from`` tags file -> vocabulary and
``image_tags`` per sample."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ovperception.datasets import TaggedImageDataset
from ovperception.datasets.base import DatasetNotFoundError
from ovperception.datasets.transforms import LoadImageFromFile, PackOVInputs
from ovperception.registry import DATASETS
from ovperception.utils.tags_file import TagsFileError


def _images(root: str, names: list[str]) -> str:
    folder = os.path.join(root, 'photos')
    for name in names:
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(path)
    return folder


def test_csv_tags_give_the_vocabulary_and_sorted_indices(tmp_path) -> None:
    _images(str(tmp_path), ['a.jpg', 'sub/b.png', 'c.jpg'])
    (tmp_path / 'tags.csv').write_text(
        'image,tags\na.jpg,"dog, person"\nsub/b.png,cat|Dog\nc.jpg,\n')
    dataset = DATASETS.build(dict(type='TaggedImageDataset', data_root=str(tmp_path),
                                  img_dir='photos', tags_file='tags.csv'))
    assert dataset.classnames == ['background', 'dog', 'person', 'cat']
    by_name = {os.path.basename(s['img_path']): s for s in dataset}
    assert by_name['a.jpg']['image_tags'] == [1, 2]
    assert by_name['b.png']['image_tags'] == [1, 3]  # sorted, case-insensitive
    assert by_name['c.jpg']['image_tags'] == []  # background only
    assert by_name['a.jpg']['classnames'] == dataset.classnames


def test_json_tags_with_a_fixed_vocabulary_and_synonyms_reach_the_metainfo(tmp_path) -> None:
    folder = _images(str(tmp_path), ['x.jpg', 'y.jpg'])
    tags = [{'image': 'x.jpg', 'tags': ['tvmonitor', 'background']},
            {'image': os.path.abspath(os.path.join(folder, 'y.jpg')), 'tags': ['man']}]
    (tmp_path / 'tags.json').write_text(json.dumps(tags))
    pipeline = [dict(type=LoadImageFromFile),
                dict(type=PackOVInputs,
                     meta_keys=PackOVInputs.DEFAULT_META_KEYS + ('image_tags',))]
    dataset = TaggedImageDataset(img_dir=folder, tags_file=str(tmp_path / 'tags.json'),
                                 classnames=['background', 'person; man', 'tvmonitor'],
                                 pipeline=pipeline)
    packed = {os.path.basename(d['data_samples'].img_path): d['data_samples'] for d in dataset}
    assert packed['x.jpg'].image_tags == [2]  # the background tag is dropped
    assert packed['y.jpg'].image_tags == [1]
    assert tuple(packed['y.jpg'].classnames) == ('background', 'person; man', 'tvmonitor')


@pytest.mark.parametrize('tags, vocabulary, message', [
    ('image,tags\na.jpg,dog\n', None, 'no entry'),                       # b.jpg untagged
    ('image,tags\na.jpg,dog\nb.jpg,horse\n', ['background', 'dog'], 'not entries'),
    ('image,tags\na.jpg,dog\nb.jpg,dog\n', ['dog', 'background'], 'start with the background'),
    ('image,tags\na.jpg,\nb.jpg,\n', None, 'no class'),
    ('name,labels\na.jpg,dog\n', None, 'header'),
])
def test_bad_tags_are_one_line_errors(tmp_path, tags, vocabulary, message) -> None:
    folder = _images(str(tmp_path), ['a.jpg', 'b.jpg'])
    (tmp_path / 'tags.csv').write_text(tags)
    with pytest.raises(TagsFileError, match=message) as error:
        TaggedImageDataset(img_dir=folder, tags_file=str(tmp_path / 'tags.csv'),
                           classnames=vocabulary)
    assert '\n' not in str(error.value)


def test_missing_folder_or_file_names_the_path(tmp_path) -> None:
    (tmp_path / 'tags.csv').write_text('image,tags\na.jpg,dog\n')
    with pytest.raises(DatasetNotFoundError, match='image folder'):
        TaggedImageDataset(img_dir=str(tmp_path / 'none'), tags_file=str(tmp_path / 'tags.csv'))
    with pytest.raises(DatasetNotFoundError, match='tags file'):
        TaggedImageDataset(img_dir=str(tmp_path), tags_file=str(tmp_path / 'no.csv'))
