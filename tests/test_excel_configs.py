"""ExCEL configs: ImageNet normalisation (the official ``normalize_img``), the official training
schedule and data pipelines, run on a synthetic VOC-layout folder."""
from __future__ import annotations

import os

import pytest
from mmengine.config import Config

from ovperception.registry import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: datasets/transforms.py normalize_img of zwyang6/ExCEL @ 2cd7f51
OFFICIAL_MEAN = (123.675, 116.28, 103.53)
OFFICIAL_STD = (58.395, 57.12, 57.375)
EXCEL_CONFIGS = ('segmentation/excel_vitb16_voc_train_pseudo.py', 'tiny/seg_tiny_excel.py')


def _config(name: str) -> Config:
    return Config.fromfile(os.path.join(ROOT, 'configs', name))


@pytest.mark.parametrize('name', EXCEL_CONFIGS)
def test_excel_configs_normalise_with_imagenet_statistics(name: str) -> None:
    preprocessor = MODELS.build(_config(name).model.data_preprocessor)
    assert preprocessor.mean.flatten().tolist() == pytest.approx(OFFICIAL_MEAN)
    assert preprocessor.std.flatten().tolist() == pytest.approx(OFFICIAL_STD)
