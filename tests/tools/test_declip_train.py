"""tools/train.py runs DeCLIP's distillation config end to end; the distilled student loads
into a plain training-free model with --weights."""
from __future__ import annotations

import os

import torch

from ovperception.models.checkpoint import load_weights, read_raw_state_dict
from ovperception.registry import MODELS
from tests.scripts import ROOT, train_tool
from tests.tiny import TINY_CLIP_KWARGS

TINY_DECLIP = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_declip_train.py')


def test_declip_distillation_trains_and_the_student_loads_for_inference(tmp_path):
    work = str(tmp_path / 'work')
    runner = train_tool.main([TINY_DECLIP, '--work-dir', work, '--cfg-options',
                              'train_cfg.max_iters=20', 'train_cfg.val_interval=20',
                              'default_hooks.checkpoint.interval=20'])
    assert runner.iter == 20
    content = runner.message_hub.get_scalar('train/loss_content').data[0]
    assert content[-3:].mean() < 0.8 * content[:3].mean(), 'the content loss must fall'
    saved = read_raw_state_dict(os.path.join(work, 'iter_20.pth'))
    assert saved and not any(k.startswith('_teachers') for k in saved)
    plain = MODELS.build(dict(
        type='OVModel', head=dict(type='DenseSimilarityHead'), template_set='single',
        backbone=dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                      dense_mode='declip_qq', model_kwargs=TINY_CLIP_KWARGS)))
    load_weights(plain, os.path.join(work, 'iter_20.pth'))
    trained = runner.model.backbone.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in plain.backbone.state_dict().items())
