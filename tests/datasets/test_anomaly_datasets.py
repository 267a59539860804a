"""MVTec AD / VisA layouts (fake trees), synthetic anomalies, mask loading errors."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from PIL import Image

from ovperception.datasets import (DatasetNotFoundError, MVTecADDataset, SyntheticAnomalyDataset,
                                   VisADataset, write_mvtec_tree)
from ovperception.datasets.anomaly import LoadAnomalyMask, ResizeAnomaly
from ovperception.datasets.synthetic_anomaly import is_anomalous_index, make_anomaly_sample

PIPELINE = [dict(type='ovperception.LoadImageFromFile'), dict(type='ovperception.LoadAnomalyMask'),
            dict(type='ovperception.ResizeAnomaly', size=(32, 32)),
            dict(type='ovperception.PackAnomalyInputs')]


def _save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def test_mvtec_layout_labels_masks_and_object_names(tmp_path):
    written = write_mvtec_tree(tmp_path, category='metal_nut', num_test=4, num_train=2)
    test = MVTecADDataset(data_root=str(tmp_path), categories=['metal_nut'], pipeline=PIPELINE)
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert len(test) == 4 and sum(i['gt_label'] for i in infos) == 2
    assert all(i['classnames'] == ['metal nut'] and i['category'] == 'metal_nut' for i in infos)
    for info in infos:
        assert (info['mask_path'] is None) == (info['gt_label'] == 0)
    packed = test[[i['gt_label'] for i in infos].index(1)]
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 32, 32)
    assert sample.gt_anomaly_map.data.shape == (1, 32, 32) and sample.gt_anomaly_map.data.sum() > 0
    assert float(sample.gt_score) == 1.0 and sample.metainfo['category'] == 'metal_nut'
    train = MVTecADDataset(data_root=str(tmp_path), categories=['metal_nut'], split='train')
    assert len(train) == 2 and len(written['train']) == 2
    references = test.normal_training_records('metal_nut')  # few-shot pool: train/good
    assert sorted(r['img_path'] for r in references) == sorted(written['train'])
    assert len(test) == 4 and test.split == 'test'  # the test dataset is unchanged
    with pytest.raises(DatasetNotFoundError, match='screw'):
        MVTecADDataset(data_root=str(tmp_path), categories=['screw'])
    # AdaCLIP prompts with the folder names as they are
    raw = MVTecADDataset(data_root=str(tmp_path), categories=['metal_nut'],
                         object_names='category')
    assert raw.get_data_info(0)['classnames'] == ['metal_nut']
    assert raw.metainfo['classnames'] == ['metal_nut']
    with pytest.raises(ValueError, match='object_names'):
        MVTecADDataset(data_root=str(tmp_path), categories=['metal_nut'], object_names='raw')


def test_mvtec_missing_mask_is_named(tmp_path):
    written = write_mvtec_tree(tmp_path, num_test=2, num_train=0)
    os.remove(written['masks'][0])
    with pytest.raises(DatasetNotFoundError, match='_mask.png'):
        MVTecADDataset(data_root=str(tmp_path), categories=['fabric'])


def test_visa_split_csv_layout(tmp_path):
    rows = []
    for i, (split, label) in enumerate([('train', 'normal'), ('test', 'normal'),
                                        ('test', 'anomaly')]):
        image = f'candle/Data/Images/{"Anomaly" if label == "anomaly" else "Normal"}/{i:03d}.JPG'
        _save(str(tmp_path / image), np.full((20, 24, 3), 100, np.uint8))
        mask = ''
        if label == 'anomaly':
            mask = f'candle/Data/Masks/Anomaly/{i:03d}.png'
            values = np.zeros((20, 24), np.uint8)
            values[5:10, 5:10] = 1  # VisA masks store small positive values
            _save(str(tmp_path / mask), values)
        rows.append(dict(object='candle', split=split, label=label, image=image, mask=mask))
    os.makedirs(tmp_path / 'split_csv')
    with open(tmp_path / 'split_csv' / '1cls.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=['object', 'split', 'label', 'image', 'mask'])
        writer.writeheader()
        writer.writerows(rows)
    test = VisADataset(data_root=str(tmp_path), categories=['candle'], pipeline=PIPELINE)
    assert len(test) == 2
    anomalous = test[1]['data_samples']
    assert float(anomalous.gt_score) == 1.0 and anomalous.gt_anomaly_map.data.sum() > 0
    assert VisADataset(data_root=str(tmp_path), categories=['candle'], split='train').get_data_info(
        0)['gt_label'] == 0
    assert [r['img_path'] for r in test.normal_training_records('candle')] == [
        str(tmp_path / rows[0]['image'])]
    with pytest.raises(DatasetNotFoundError, match='split file'):
        VisADataset(data_root=str(tmp_path), split_file='nope.csv')


def test_mask_of_wrong_size_is_a_clear_error(tmp_path):
    mask_path = str(tmp_path / 'm.png')
    _save(mask_path, np.zeros((10, 12), np.uint8))
    results = dict(img=np.zeros((20, 24, 3), np.uint8), img_path='x.png', mask_path=mask_path)
    with pytest.raises(ValueError, match='12x10 but image x.png is 24x20'):
        LoadAnomalyMask()(results)


def test_synthetic_anomalies_have_exact_masks_and_even_spread():
    assert [is_anomalous_index(i, 0.5) for i in range(4)] == [False, True, False, True]
    assert not any(is_anomalous_index(i, 0.0) for i in range(10))
    normal, mask, kind = make_anomaly_sample(0, seed=3)
    assert kind == 'good' and mask.sum() == 0
    kinds = set()
    for index in range(1, 20, 2):
        img, mask, kind = make_anomaly_sample(index, seed=3)
        clean, _, _ = make_anomaly_sample(index, seed=3, anomaly_ratio=0.0)
        kinds.add(kind)
        assert mask.sum() > 0
        # the defect changed pixels only inside the mask
        changed = np.any(img != clean, axis=-1)
        assert not changed[mask == 0].any()
    assert kinds == {'texture', 'scratch'}
    dataset = SyntheticAnomalyDataset(num_samples=4, pipeline=PIPELINE)
    assert [float(dataset[i]['data_samples'].gt_score) for i in range(4)] == [0, 1, 0, 1]


def test_resize_binarises_masks():
    results = dict(img=np.zeros((4, 4, 3), np.uint8),
                   gt_anomaly_mask=np.array([[1, 1, 0, 0]] * 4, np.uint8))
    out = ResizeAnomaly(size=8)(results)
    assert out['gt_anomaly_mask'].shape == (8, 8) and set(np.unique(out['gt_anomaly_mask'])) == {
        0, 1}
    assert out['img_shape'] == (8, 8)


def test_short_edge_resize_keeps_the_aspect_ratio_like_torchvision():
    from PIL import Image
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 66, 3), dtype=np.uint8)
    mask = np.zeros((60, 66), np.uint8)
    mask[10:30, 20:40] = 1
    out = ResizeAnomaly(short_edge=112, backend='pillow')(dict(img=img, gt_anomaly_mask=mask))
    assert out['img'].shape == (112, 123, 3) and out['gt_anomaly_mask'].shape == (112, 123)
    expected = np.asarray(Image.fromarray(img).resize((123, 112), Image.BICUBIC))
    assert np.array_equal(out['img'], expected)
    tall = ResizeAnomaly(short_edge=50)(dict(img=np.zeros((100, 40, 3), np.uint8)))
    assert tall['img'].shape == (125, 50, 3)
    with pytest.raises(ValueError, match='exactly one of size and short_edge'):
        ResizeAnomaly(size=8, short_edge=8)
    with pytest.raises(ValueError, match='backend'):
        ResizeAnomaly(size=8, backend='magic')


def test_mosaic_pastes_four_images_of_the_category_and_keeps_the_label(tmp_path):
    from ovperception.datasets import AnomalyMosaic
    from ovperception.datasets.anomaly_mosaic import paste_2x2
    from ovperception.datasets.transforms import LoadImageFromFile
    write_mvtec_tree(tmp_path, category='metal_nut', num_test=6, num_train=0)
    pipeline = [dict(type=LoadImageFromFile), dict(type=LoadAnomalyMask),
                dict(type=AnomalyMosaic, rate=1.0, seed=0)]
    data = MVTecADDataset(data_root=str(tmp_path), categories=['metal_nut'], pipeline=pipeline,
                          category_pool=True)
    normal = [i for i in range(len(data)) if not data.get_data_info(i)['gt_label']][0]
    out = data.pipeline(data.get_data_info(normal))
    assert out['mosaic'] and out['img'].shape[:2] == (128, 128)  # 2 x 64 px
    assert out['gt_anomaly_mask'].shape == (128, 128)
    assert out['gt_label'] == 0  # as released: the drawn sample's label stays
    assert len(out['category_pool']) == 6
    parts = [np.full((2, 2), v) for v in (1, 2, 3, 4)]
    np.testing.assert_array_equal(paste_2x2(parts), [[1, 1, 2, 2], [1, 1, 2, 2],
                                                     [3, 3, 4, 4], [3, 3, 4, 4]])
    plain = MVTecADDataset(data_root=str(tmp_path), categories=['metal_nut'], pipeline=pipeline)
    with pytest.raises(ValueError, match='category_pool=True'):
        plain.pipeline(plain.get_data_info(0))
    never = AnomalyMosaic(rate=0.0)
    assert "mosaic" not in never(data.get_data_info(0))
