"""Every config parses; every model architecture builds (random init); tiny configs run."""
from __future__ import annotations

import glob
import os

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ovperception.registry import DATASETS, MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEAF_CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '*', '*.py')))
LEAF_CONFIGS = [c for c in LEAF_CONFIGS if '_base_' not in c]


def test_there_are_configs_for_every_method_and_benchmark():
    names = {os.path.basename(c) for c in LEAF_CONFIGS}
    for method in ('maskclip', 'sclip', 'clearclip', 'naclip'):
        for dataset in ('voc21', 'voc20', 'context60', 'context59', 'coco_object',
                        'coco_stuff164k', 'cityscapes', 'ade20k'):
            assert any(n.startswith(f'{method}_vitb16_{dataset}_') for n in names), \
                (method, dataset)


@pytest.mark.parametrize('path', LEAF_CONFIGS, ids=os.path.basename)
def test_config_parses_and_names_known_components(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'ovperception'
    assert cfg.model.type is not None
    if 'segmentation' in path:
        assert cfg.published_metrics['mIoU'] > 0
        assert cfg.test_dataloader.dataset.type is not None
        head = cfg.model.get('head')  # FCCLIP has its own decoders, no head
        if head is not None and ('voc21' in path or 'context60' in path
                                 or 'coco_object' in path):
            assert head.background_index == 0, 'background datasets map class 0'


@pytest.mark.parametrize('method', ['maskclip', 'sclip', 'clearclip', 'naclip'])
def test_real_architecture_builds_without_weights(method):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models',
                                       f'{method}_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    assert model.backbone.dense_mode == method and model.backbone.embed_dim == 512


def test_dataset_config_without_data_gives_a_clear_error(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'datasets', 'voc21.py'))
    init_default_scope('ovperception')
    dataset_cfg = dict(cfg.test_dataloader.dataset, data_root=str(tmp_path / 'VOC2012'))
    with pytest.raises(FileNotFoundError, match='VOC2012'):
        DATASETS.build(dataset_cfg)
