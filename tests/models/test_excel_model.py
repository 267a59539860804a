"""ExCELModel end to end: tools/test.py's path on the tiny config (present classes from the
ground truth), and the label rules (only present classes or background)."""
from __future__ import annotations

import os

import torch
from mmengine.config import Config
from mmengine.structures import PixelData

from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from tests.scripts import ROOT

TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel.py')


def _model():
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(TINY).model).eval()


def test_pixels_take_only_present_classes_or_background():
    model = _model()
    image = torch.randint(0, 255, (3, 48, 80), dtype=torch.uint8)
    gt = torch.zeros(1, 48, 80, dtype=torch.long)
    gt[0, :20, :30] = 2
    names = ['grey striped background', 'red square', 'green circle', 'blue triangle']
    sample = OVDataSample(metainfo=dict(classnames=names, ori_shape=(48, 80),
                                        img_shape=(48, 80)))
    sample.gt_sem_seg = PixelData(data=gt)
    (out,) = model.predict(image[None].float(), [sample])
    labels = out.pred_sem_seg.data
    assert labels.shape == (1, 48, 80) and set(labels.unique().tolist()) <= {0, 2}
    assert out.metainfo['label_names'] == names
    # without ground truth (annotate): every entry is present, no background entry -> 255
    bare = OVDataSample(metainfo=dict(classnames=['cat', 'dog'], ori_shape=(48, 80),
                                      img_shape=(48, 80)))
    (out,) = model.predict(image[None].float(), [bare])
    assert set(out.pred_sem_seg.data.unique().tolist()) <= {0, 1, 255}


def test_tools_test_scores_the_tiny_config(tmp_path):
    from tests.scripts import load_script
    metrics = load_script('tools/test.py').main([TINY, '--work-dir', str(tmp_path)])
    assert 0.0 < metrics['mIoU'] <= 100.0


def test_descriptions_enrich_the_texts_with_one_bank(tmp_path):
    import json
    path = tmp_path / 'descriptions.json'
    path.write_text(json.dumps({name: [f'a clean origami {name}. it has part {i}.'
                                       for i in range(4)] for name in ('cat', 'dog', 'cow')}))
    model = _model()
    plain = model.class_texts(['cat', 'dog'])
    model.descriptions_file, model.num_attribute_clusters = str(path), 10
    enriched = model.class_texts(['cat', 'dog'])
    assert enriched.shape == plain.shape and not torch.allclose(enriched[:2], plain[:2])
    torch.testing.assert_close(enriched[2:], plain[2:])  # background words unchanged
    bank = model._bank
    model.class_texts(['cow'])
    assert model._bank is bank  # one bank for every vocabulary
    model._bank, model.num_attribute_clusters = None, 50
    import pytest
    with pytest.raises(ValueError, match='fewer descriptions'):
        model.class_texts(['cat'])
