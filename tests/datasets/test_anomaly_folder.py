"""FolderAnomalyDataset: your own normal / abnormal / mask folders, evaluated end to end,
with few-shot references from their own folder."""
from __future__ import annotations

import math
import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from ovperception.datasets import DatasetNotFoundError, FolderAnomalyDataset
from ovperception.engine.few_shot import FewShotMemoryHook
from ovperception.registry import DATASETS, MODELS
from ovperception.datasets.synthetic_anomaly import normal_surface, paste_defect
from tests.scripts import ROOT, test_tool

CONFIG = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_winclip_folder.py')


def _write_folders(root, n_normal=4, n_abnormal=4, masks=True, mask_suffix='_mask'):
    rng = np.random.default_rng(0)
    for sub in ('good', 'defect', 'mask', 'refs'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n_normal):
        cv2.imwrite(str(root / 'good' / f'g{i}.png'), normal_surface(rng, 48, 48))
        cv2.imwrite(str(root / 'refs' / f'r{i}.png'), normal_surface(rng, 48, 48))
    for i in range(n_abnormal):
        img = normal_surface(rng, 48, 48)
        mask = paste_defect(img, rng, 'texture')
        cv2.imwrite(str(root / 'defect' / f'd{i}.png'), img)
        if masks:
            cv2.imwrite(str(root / 'mask' / f'd{i}{mask_suffix}.png'), mask * 255)


def test_records_labels_and_masks(tmp_path):
    _write_folders(tmp_path)
    dataset = FolderAnomalyDataset(data_root=str(tmp_path), abnormal_dir='defect',
                                   mask_dir='mask', category='screw', lazy_init=False)
    records = dataset.load_data_list()
    assert [r['gt_label'] for r in records] == [0] * 4 + [1] * 4
    assert records[4]['mask_path'].endswith('d0_mask.png') and records[0]['mask_path'] is None
    assert dataset.get_data_info(0)['classnames'] == ['screw']
    with_refs = FolderAnomalyDataset(data_root=str(tmp_path), abnormal_dir='defect',
                                     reference_dir='refs', category='screw')
    assert [os.path.basename(r['img_path']) for r in
            with_refs.normal_training_records('screw')] == [f'r{i}.png' for i in range(4)]


def test_bad_folders_give_one_line_errors(tmp_path):
    _write_folders(tmp_path)
    (tmp_path / 'mask' / 'd3_mask.png').unlink()
    with pytest.raises(DatasetNotFoundError, match='no mask for d3.png'):
        FolderAnomalyDataset(data_root=str(tmp_path), abnormal_dir='defect', mask_dir='mask')
    dataset = FolderAnomalyDataset(data_root=str(tmp_path), abnormal_dir='defect')
    with pytest.raises(ValueError, match='reference_dir'):
        dataset.normal_training_records('object')
    with pytest.raises(ValueError, match='mask_dir is given but abnormal_dir is not'):
        FolderAnomalyDataset(data_root=str(tmp_path), mask_dir='mask')


def test_folder_evaluates_with_masks_and_image_metrics_only_without(tmp_path):
    _write_folders(tmp_path)
    metrics = test_tool.main([CONFIG, '--work-dir', str(tmp_path / 'w1'), '--cfg-options',
                              f'test_dataloader.dataset.data_root={tmp_path}'])
    assert all(0 <= v <= 100 for v in metrics.values()) and 'AUPRO' in metrics
    metrics = test_tool.main([CONFIG, '--work-dir', str(tmp_path / 'w2'), '--cfg-options',
                              f'test_dataloader.dataset.data_root={tmp_path}',
                              'test_dataloader.dataset.mask_dir=None'])
    assert 0 <= metrics['image_AUROC'] <= 100 and math.isnan(metrics['pixel_AUROC'])


def test_folder_few_shot_memory_comes_from_the_reference_folder(tmp_path):
    _write_folders(tmp_path, n_normal=2, n_abnormal=2)
    cfg = Config.fromfile(CONFIG)
    cfg.test_dataloader.dataset.update(data_root=str(tmp_path), reference_dir='refs')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model = MODELS.build(cfg.model)
    runner = SimpleNamespace(test_dataloader=SimpleNamespace(dataset=dataset), model=model)
    FewShotMemoryHook(k=2, seed=0).before_test(runner)
    assert set(model.normal_memories) == {'object'}
    assert model.normal_memories['object'].global_embedding.shape[0] == 2
