"""Counting datasets on fake on-disk trees; point-consistent transforms; synthetic dots."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from scipy.io import savemat

from ovperception.datasets import (FSC147Dataset, NWPUCrowdDataset, ShanghaiTechDataset,
                                   SyntheticCountingDataset, UCFQNRFDataset)
from ovperception.datasets.base import DatasetNotFoundError
from ovperception.datasets.counting import AnnotationError, read_point_annotation
from ovperception.datasets.counting_transforms import (LoadPointAnnotations, PackCountingInputs,
                                                       PointsLimitSize, PointsRandomCrop,
                                                       PointsRandomFlip, PointsResizeShortSide)
from ovperception.datasets.synthetic_counting import make_dot_image
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.utils.atomic import atomic_save_image

PIPELINE = [dict(type=LoadImageFromFile), dict(type=LoadPointAnnotations),
            dict(type=PackCountingInputs)]


def _image(path, size=(20, 30)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_save_image(str(path), np.full((*size, 3), 90, np.uint8))


def _shanghaitech_mat(path, points):
    info = np.empty((1, 1), dtype=object)
    inner = np.empty((1, 1), dtype=[('location', 'O'), ('number', 'O')])
    inner[0, 0] = (np.asarray(points, np.float64).reshape(-1, 2), np.array([[len(points)]]))
    info[0, 0] = inner
    savemat(str(path), {'image_info': info})


def test_shanghaitech_layout(tmp_path):
    split = tmp_path / 'part_A' / 'train_data'
    for index, points in ((1, [[1.5, 2.0], [10, 12]]), (2, []), (10, [[3, 3]])):
        _image(split / 'images' / f'IMG_{index}.jpg')
        os.makedirs(split / 'ground-truth', exist_ok=True)
        _shanghaitech_mat(split / 'ground-truth' / f'GT_IMG_{index}.mat', points)
    dataset = ShanghaiTechDataset(data_root=str(tmp_path), part='A', split='train',
                                  pipeline=PIPELINE)
    assert len(dataset) == 3
    counts = [dataset[i]['data_samples'].gt_count.tolist() for i in range(3)]
    assert counts == [[2.0], [0.0], [1.0]]  # natural order IMG_1, IMG_2, IMG_10; zero objects
    np.testing.assert_allclose(dataset[0]['data_samples'].gt_instances.points.numpy(),
                               [[1.5, 2.0], [10, 12]])
    assert dataset.metainfo['classes'] == ('person',)
    with pytest.raises(DatasetNotFoundError, match='part_B'):
        ShanghaiTechDataset(data_root=str(tmp_path), part='B', split='train')


def test_ucf_qnrf_layout_and_malformed_annotation(tmp_path):
    folder = tmp_path / 'Test'
    _image(folder / 'img_0001.jpg')
    savemat(str(folder / 'img_0001_ann.mat'), {'annPoints': np.array([[4.0, 5.0]] * 7)})
    dataset = UCFQNRFDataset(data_root=str(tmp_path), split='Test', pipeline=PIPELINE)
    assert dataset[0]['data_samples'].gt_count.tolist() == [7.0]
    savemat(str(tmp_path / 'bad.mat'), {'other': np.zeros(3)})
    with pytest.raises(AnnotationError, match='bad.mat'):
        read_point_annotation(str(tmp_path / 'bad.mat'), 'qnrf_mat')


def test_nwpu_layout_with_unlabelled_test_split(tmp_path):
    for stem, points in (('0001', [[1, 1], [2, 2], [3, 3]]), ('0002', [])):
        _image(tmp_path / 'images' / f'{stem}.jpg')
        os.makedirs(tmp_path / 'jsons', exist_ok=True)
        with open(tmp_path / 'jsons' / f'{stem}.json', 'w') as handle:
            json.dump(dict(img_id=stem, human_num=len(points), points=points), handle)
    (tmp_path / 'val.txt').write_text('0001 1 2\n0002 0 1\n')
    (tmp_path / 'test.txt').write_text('0001\n')
    val = NWPUCrowdDataset(data_root=str(tmp_path), split='val', pipeline=PIPELINE)
    assert [val[i]['data_samples'].gt_count.tolist() for i in range(2)] == [[3.0], [0.0]]
    test = NWPUCrowdDataset(data_root=str(tmp_path), split='test', pipeline=PIPELINE)
    assert 'gt_count' not in test[0]['data_samples']  # images without annotations
    with pytest.raises(DatasetNotFoundError, match='train.txt'):
        NWPUCrowdDataset(data_root=str(tmp_path), split='train')


def test_fsc147_layout_gives_each_image_its_class_and_exemplars(tmp_path):
    _image(tmp_path / 'images_384_VarV2' / '2.jpg', (40, 60))
    _image(tmp_path / 'images_384_VarV2' / '3.jpg', (40, 60))
    box = [[1, 2], [1, 12], [11, 12], [11, 2]]
    annotation = {'2.jpg': dict(points=[[5, 5], [20, 30]], box_examples_coordinates=[box] * 3),
                  '3.jpg': dict(points=[[1, 1]], box_examples_coordinates=[box] * 3)}
    (tmp_path / 'annotation_FSC147_384.json').write_text(json.dumps(annotation))
    (tmp_path / 'Train_Test_Val_FSC_147.json').write_text(
        json.dumps(dict(train=['3.jpg'], val=[], test=['2.jpg'])))
    (tmp_path / 'ImageClasses_FSC147.txt').write_text('2.jpg\tsea shells\n3.jpg\tapples\n')
    dataset = FSC147Dataset(data_root=str(tmp_path), split='test', pipeline=PIPELINE)
    sample = dataset[0]['data_samples']
    assert sample.metainfo['classnames'] == ['sea shells']
    assert sample.gt_count.tolist() == [2.0]
    assert sample.metainfo['exemplar_bboxes'].tolist() == [[1, 2, 11, 12]] * 3
    with pytest.raises(DatasetNotFoundError, match='empty'):
        FSC147Dataset(data_root=str(tmp_path), split='val')


def test_transforms_keep_points_and_boxes_consistent():
    img = np.zeros((40, 60, 3), np.uint8)
    points = np.array([[10.5, 5.5], [59.5, 39.5], [30.5, 20.5]], np.float32)  # pixel centres
    for x, y in points:
        img[int(y), int(x)] = 255
    results = dict(img=img, gt_points=points, gt_point_labels=np.array([0, 0, 0]),
                   exemplar_bboxes=np.array([[10, 4, 20, 8]], np.float32))
    resized = PointsResizeShortSide(short_side=80)(dict(results, img=img.copy()))
    np.testing.assert_allclose(resized['gt_points'], points * 2)
    np.testing.assert_allclose(resized['exemplar_bboxes'], [[20, 8, 40, 16]])
    limited = PointsLimitSize(max_long_side=30)(dict(results, img=img.copy()))
    assert limited['img'].shape[:2] == (20, 30)
    np.testing.assert_allclose(limited['gt_points'], points / 2)
    untouched = PointsLimitSize(max_long_side=100)(dict(results, img=img.copy()))
    assert untouched['img'].shape[:2] == (40, 60)  # never upscales
    flipped = PointsRandomFlip(prob=1.0)(dict(results, img=img.copy()))
    np.testing.assert_allclose(flipped['gt_points'][:, 0], 60 - points[:, 0])
    np.testing.assert_allclose(flipped['exemplar_bboxes'], [[40, 4, 50, 8]])
    for x, y in flipped['gt_points']:  # the marked pixel moved with its point
        assert flipped['img'][int(y), int(x)].max() == 255
    np.random.seed(3)
    cropped = PointsRandomCrop(crop_size=(20, 25))(dict(results, img=img.copy()))
    assert cropped['img'].shape[:2] == (20, 25)
    for x, y in cropped['gt_points']:
        assert 0 <= x < 25 and 0 <= y < 20 and cropped['img'][int(y), int(x)].max() == 255
    assert len(cropped['gt_point_labels']) == len(cropped['gt_points'])


def test_synthetic_dots_have_exact_counts_and_are_deterministic():
    img, points, labels = make_dot_image(5, seed=2, image_size=(48, 48), colours=('red', 'blue'),
                                         max_count=6, radius=2, distractor_colours=('green',),
                                         max_distractors=3)
    again = make_dot_image(5, seed=2, image_size=(48, 48), colours=('red', 'blue'),
                           max_count=6, radius=2, distractor_colours=('green',),
                           max_distractors=3)
    np.testing.assert_array_equal(img, again[0])
    red = np.array([220, 30, 30])
    for (x, y), label in zip(points, labels):
        colour = img[int(y), int(x)]
        assert (np.abs(colour.astype(int) - red).max() < 5) == (label == 0)
    dataset = SyntheticCountingDataset(num_samples=6, max_count=4, pipeline=[PackCountingInputs()])
    assert dataset.metainfo['classnames'] == ['red dot']
    counts = [dataset[i]['data_samples'].gt_count.item() for i in range(6)]
    assert counts == [len(dataset.get_data_info(i)['gt_points']) for i in range(6)]
    with pytest.raises(ValueError, match='unknown colours'):
        make_dot_image(0, colours=('chartreuse',))
