"""Benchmark datasets on fake on-disk trees, class-name files and their validation."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from ovperception.datasets import (ADE20KDataset, CityscapesDataset, ClassnamesError,
                                   COCOObjectDataset, COCOStuffDataset, DatasetNotFoundError,
                                   FolderSegDataset, PascalContext59Dataset,
                                   PascalContext60Dataset, PascalVOC20Dataset, PascalVOCDataset,
                                   load_classnames, parse_classnames, write_synthetic_folder)
from ovperception.datasets.base import available_classnames_files
from ovperception.registry import DATASETS

TEST_PIPELINE = [dict(type='LoadImageFromFile'),
                 dict(type='ResizeShortSide', short_side=8, max_long_side=2048),
                 dict(type='LoadSegAnnotations'), dict(type='PackOVInputs')]


def _image(path: str, size=(6, 4)) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new('RGB', size, (10, 20, 30)).save(path)


def _label(path: str, value: int, palette: bool = False, size=(6, 4)) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    array = np.full(size[::-1], value, np.uint8)
    array[0, 0] = 255
    img = Image.fromarray(array, 'P' if palette else 'L')
    if palette:
        img.putpalette([v for i in range(256) for v in (i, 0, 255 - i)])
    img.save(path)


@pytest.mark.parametrize('name, count', [
    ('voc21', 21), ('voc20', 20), ('context60', 60), ('context59', 59), ('coco_object', 81),
    ('coco_stuff', 171), ('cityscapes', 19), ('ade20k', 150)])
def test_classnames_file_counts(name, count):
    classnames = load_classnames(name)
    assert len(classnames) == count
    assert load_classnames(f'{name}.txt') == classnames


def test_shipped_files_and_synonyms():
    assert set(available_classnames_files()) >= {'voc21', 'ade20k', 'coco_stuff'}
    voc = load_classnames('voc21')
    assert voc[0].startswith('background; sky; wall; tree') and voc[0].endswith('rail; fence')
    assert 'boat; ship' in voc and 'dining table; table' in voc
    assert voc[15].startswith('person; person in shirt')
    assert load_classnames('voc20') == voc[1:]
    assert load_classnames('context60')[0] == 'background'
    assert load_classnames('context60')[1:] == load_classnames('context59')
    assert load_classnames('coco_stuff')[:80] == [
        n.split(';')[0] for n in load_classnames('coco_object')[1:]]


def test_parse_classnames_rules(tmp_path):
    assert parse_classnames(['# header', '', 'a ;b;', 'c  # note', '  ']) == ['a; b', 'c']
    with pytest.raises(ClassnamesError, match='no class names'):
        parse_classnames(['# only comments', ''])
    with pytest.raises(ClassnamesError, match="'cat'.*classes 0 .*and 2"):
        parse_classnames(['cat', 'dog', 'cat'])
    with pytest.raises(ClassnamesError, match="'table'"):
        parse_classnames(['dining table; table', 'table'])
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n# nothing\n')
    with pytest.raises(ClassnamesError, match='empty.txt'):
        load_classnames(str(empty))
    with pytest.raises(FileNotFoundError, match='shipped names'):
        load_classnames('no_such_vocabulary')


def _voc_tree(root: str, split: str = 'ImageSets/Segmentation/val.txt',
              seg: str = 'SegmentationClass') -> None:
    for i, stem in enumerate(('2007_000001', '2007_000002')):
        _image(f'{root}/JPEGImages/{stem}.jpg')
        _label(f'{root}/{seg}/{stem}.png', value=i + 1, palette=True)
    os.makedirs(os.path.dirname(f'{root}/{split}'), exist_ok=True)
    with open(f'{root}/{split}', 'w') as handle:
        handle.write('2007_000001\n2007_000002\n')


def test_pascal_voc_and_voc20(tmp_path):
    root = str(tmp_path / 'VOC2012')
    _voc_tree(root)
    voc = PascalVOCDataset(data_root=root, pipeline=TEST_PIPELINE)
    assert len(voc) == 2 and len(voc.metainfo['classes']) == 21
    classes = voc.metainfo['classes']
    assert classes[0] == 'background' and classes[-1] == 'tv monitor'
    info = voc.get_data_info(1)
    assert info['img_path'].endswith('JPEGImages/2007_000002.jpg')
    assert info['classnames'] == load_classnames('voc21')
    packed = voc[1]
    assert packed['inputs'].shape == (3, 8, 12)  # resized, short side 8
    gt = packed['data_samples'].gt_sem_seg.data
    assert gt.shape == (1, 4, 6) and gt[0, 0, 0] == 255 and gt[0, 1, 1] == 2  # palette index
    assert len(packed['data_samples'].classnames) == 21

    voc20 = PascalVOC20Dataset(data_root=root, pipeline=TEST_PIPELINE)
    assert len(voc20.metainfo['classes']) == 20 and voc20.metainfo['reduce_zero_label']
    gt20 = voc20[1]['data_samples'].gt_sem_seg.data
    assert gt20[0, 1, 1] == 1 and gt20[0, 0, 0] == 255


def test_pascal_context(tmp_path):
    root = str(tmp_path / 'VOC2010')
    _voc_tree(root, 'ImageSets/SegmentationContext/val.txt', 'SegmentationClassContext')
    assert len(PascalContext60Dataset(data_root=root).metainfo['classes']) == 60
    pc59 = PascalContext59Dataset(data_root=root, pipeline=TEST_PIPELINE)
    assert len(pc59.metainfo['classes']) == 59
    assert pc59[0]['data_samples'].gt_sem_seg.data[0, 1, 1] == 0


def test_ade20k(tmp_path):
    root = str(tmp_path / 'ADEChallengeData2016')
    for i, stem in enumerate(('ADE_val_00000001', 'ADE_val_00000002', 'ADE_val_00000003')):
        _image(f'{root}/images/validation/{stem}.jpg')
        _label(f'{root}/annotations/validation/{stem}.png', value=i)
    ade = ADE20KDataset(data_root=root, pipeline=TEST_PIPELINE)
    assert len(ade) == 3 and len(ade.metainfo['classes']) == 150
    assert ade[0]['data_samples'].gt_sem_seg.data[0, 1, 1] == 255  # 0 = other -> ignored
    assert ade[2]['data_samples'].gt_sem_seg.data[0, 1, 1] == 1


def test_cityscapes_nested_folders(tmp_path):
    root = str(tmp_path / 'cityscapes')
    for city, frame in (('frankfurt', '000000_000294'), ('lindau', '000001_000019')):
        _image(f'{root}/leftImg8bit/val/{city}/{city}_{frame}_leftImg8bit.png')
        _label(f'{root}/gtFine/val/{city}/{city}_{frame}_gtFine_labelTrainIds.png', value=18)
    city = CityscapesDataset(data_root=root, pipeline=TEST_PIPELINE)
    assert len(city) == 2 and len(city.metainfo['classes']) == 19
    assert city.get_data_info(1)['seg_map_path'].endswith(
        'gtFine/val/lindau/lindau_000001_000019_gtFine_labelTrainIds.png')
    assert city[0]['data_samples'].gt_sem_seg.data[0, 1, 1] == 18


def test_coco_object_and_stuff(tmp_path):
    root = str(tmp_path / 'coco_stuff164k')
    for i, stem in enumerate(('000000000139', '000000000285')):
        _image(f'{root}/images/val2017/{stem}.jpg')
        _label(f'{root}/annotations/val2017/{stem}_instanceTrainIds.png', value=80)
        _label(f'{root}/annotations/val2017/{stem}_labelTrainIds.png', value=170)
    obj = COCOObjectDataset(data_root=root, pipeline=TEST_PIPELINE)
    assert len(obj) == 2 and len(obj.metainfo['classes']) == 81
    assert obj[0]['data_samples'].gt_sem_seg.data[0, 1, 1] == 80
    stuff = DATASETS.build(dict(type='COCOStuffDataset', data_root=root, pipeline=TEST_PIPELINE))
    assert isinstance(stuff, COCOStuffDataset) and len(stuff.metainfo['classes']) == 171
    assert stuff[1]['data_samples'].gt_sem_seg.data[0, 1, 1] == 170


def test_coco2014_wsss_layout_pairs_images_with_masks_named_by_number(tmp_path):
    from tests.coco2014_layout import (COCO_TRAIN_NUMBERS, COCO_VAL_NUMBERS, coco_image_name,
                                       coco_label, write_coco2014_layout)
    from ovperception.datasets import COCO2014Dataset
    root = write_coco2014_layout(str(tmp_path))
    val = COCO2014Dataset(data_root=root, pipeline=TEST_PIPELINE)  # no split: images with masks
    assert len(val) == len(COCO_VAL_NUMBERS) and len(val.metainfo['classes']) == 81
    info = val.get_data_info(0)
    assert os.path.basename(info['img_path']) == coco_image_name('val', 42) + '.jpg'
    assert info['seg_map_path'].endswith(os.path.join('SegmentationClass', 'val2014',
                                                      '000000000042.png'))
    labels = val[0]['data_samples'].gt_sem_seg.data[0].numpy()
    assert (labels == coco_label(42, labels.shape)).all()
    (tmp_path / 'train_ids.txt').write_text(
        ''.join(coco_image_name('train', n) + '\n' for n in COCO_TRAIN_NUMBERS[::-1]))
    train = DATASETS.build(dict(type='COCO2014Dataset', data_root=root,
                                ann_file=str(tmp_path / 'train_ids.txt'),
                                data_prefix=dict(img_path='JPEGImages/train2014',
                                                 seg_map_path='SegmentationClass/train2014'),
                                pipeline=TEST_PIPELINE))
    assert [os.path.basename(train.get_data_info(i)['seg_map_path']) for i in range(3)] == [
        f'{n:012d}.png' for n in COCO_TRAIN_NUMBERS[::-1]]
    (tmp_path / 'bad.txt').write_text(coco_image_name('train', 99) + '\n')  # has no mask
    with pytest.raises(DatasetNotFoundError, match='000000000099.png'):
        COCO2014Dataset(data_root=root, ann_file=str(tmp_path / 'bad.txt'),
                        data_prefix=dict(img_path='JPEGImages/train2014',
                                         seg_map_path='SegmentationClass/train2014'))


def test_missing_paths_are_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"data_root not found.*nowhere.*datasets\.md"):
        PascalVOCDataset(data_root=str(tmp_path / 'nowhere'))
    root = str(tmp_path / 'VOC2012')
    _voc_tree(root)
    with pytest.raises(DatasetNotFoundError, match='split file.*train.txt'):
        PascalVOCDataset(data_root=root, ann_file='ImageSets/Segmentation/train.txt')
    with pytest.raises(DatasetNotFoundError, match='image folder.*images/val2017'):
        COCOObjectDataset(data_root=root)
    with pytest.raises(DatasetNotFoundError, match='annotation file.*seg_map_suffix'):
        PascalVOCDataset(data_root=root, seg_map_suffix='_labelTrainIds.png')


def test_vocabulary_overrides(tmp_path):
    root = str(tmp_path / 'VOC2012')
    _voc_tree(root)
    custom = PascalVOCDataset(data_root=root, classnames=['sky', 'cat; kitten'])
    assert custom.metainfo['classes'] == ('sky', 'cat')
    assert custom.get_data_info(0)['classnames'] == ['sky', 'cat; kitten']
    names = tmp_path / 'names.txt'
    names.write_text('a\nb; bee\n')
    from_file = PascalVOCDataset(data_root=root, classnames_file=str(names))
    assert from_file.classnames == ['a', 'b; bee']
    from_meta = PascalVOCDataset(data_root=root, metainfo=dict(classes=('x', 'y', 'z')))
    assert from_meta.metainfo['classes'] == ('x', 'y', 'z')


def test_folder_dataset_on_synthetic_folder(tmp_path):
    written = write_synthetic_folder(tmp_path / 'synth', 3)
    ds = FolderSegDataset(img_dir=written['img_dir'], seg_dir=written['seg_dir'],
                          img_suffix='.png', classnames_file=written['classnames_file'],
                          pipeline=TEST_PIPELINE[:1] + TEST_PIPELINE[2:])
    assert len(ds) == 3 and ds.classnames == written['classnames']
    gt = ds[2]['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt, np.asarray(Image.open(written['labels'][2])))
    unlabelled = FolderSegDataset(img_dir=written['img_dir'], img_suffix='.png',
                                  classnames=['a', 'b'])
    assert unlabelled.get_data_info(0)['seg_map_path'] is None
