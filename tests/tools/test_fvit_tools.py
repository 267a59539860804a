"""The tiny F-ViT through tools/train.py, tools/test.py and the demo: it trains on the
synthetic shapes and beats the learned-proposal detector trained for as long."""
from __future__ import annotations

import json
import os

from ovperception.datasets.synthetic_detection import make_synthetic_detection_sample
from ovperception.utils.atomic import atomic_save_image
from tests.scripts import ROOT, demo, test_tool, train_tool

FVIT_TINY = os.path.join(ROOT, 'configs', 'tiny', 'det_tiny_fvit.py')
LEARNED_TINY = os.path.join(ROOT, 'configs', 'tiny', 'det_tiny_learned.py')
ITERS = 40


def train_and_test(config: str, tmp_path, name: str) -> tuple[list[float], dict]:
    work = str(tmp_path / name)
    runner = train_tool.main([config, '--work-dir', work, '--cfg-options',
                              f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
                              f'default_hooks.checkpoint.interval={ITERS}',
                              f'param_scheduler.0.end={ITERS}'])
    assert runner.iter == ITERS
    history = list(runner.message_hub.get_scalar('train/loss').data[0])
    metrics = test_tool.main([config, '--work-dir', str(tmp_path / f'{name}_eval'),
                              '--weights', os.path.join(work, f'iter_{ITERS}.pth')])
    return history, metrics


def test_tiny_fvit_trains_and_beats_the_learned_proposal_detector(tmp_path, one_thread):
    history, fvit = train_and_test(FVIT_TINY, tmp_path, 'fvit')
    assert sum(history[-5:]) < 0.8 * sum(history[:5]), history
    _, learned = train_and_test(LEARNED_TINY, tmp_path, 'learned')
    # measured (40 iterations): mAP / AP50 F-ViT 0.152 / 0.479, learned proposals 0.027 / 0.098
    assert fvit['coco/bbox_mAP'] > learned['coco/bbox_mAP'] + 0.05, (fvit, learned)
    assert fvit['coco/bbox_mAP_50'] > learned['coco/bbox_mAP_50'], (fvit, learned)


def test_demo_detects_with_the_tiny_fvit(tmp_path, one_thread):
    image_path = tmp_path / 'in' / 'shapes.png'
    atomic_save_image(image_path, make_synthetic_detection_sample(0)['img'])
    out = tmp_path / 'out'
    status = demo.main([str(image_path), '--vocab', 'red square, green circle',
                        '--out', str(out), '--config', FVIT_TINY, '--pred-score-thr', '0.0'])
    assert status == 0
    assert (out / 'shapes_det_overlay.png').exists()
    coco = json.loads((out / 'shapes_detections.json').read_text())
    assert [c['name'] for c in coco['categories']] == ['red square', 'green circle']
    assert all(a['category_id'] in (1, 2) for a in coco['annotations'])


def test_annotate_tool_and_app_detect_with_fvit(tmp_path):
    from ovperception.annotation.model import config_tasks
    from ovperception.webapp.service import AnnotationService
    from ovperception.webapp.session import AppSession
    from ovperception.webapp.tasks import default_configs
    from mmengine.config import Config
    from tests.annotation.test_annotate_tool import (CHECKS, annotate, annotate_args,
                                                     make_inputs, stored_results)
    assert config_tasks(Config.fromfile(FVIT_TINY)) == ('det',)
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png',), broken=False, video=False)
    out = str(tmp_path / 'out')
    argv = annotate_args(source, out, '--task', 'det')
    del argv[argv.index('--min-area'):argv.index('--min-area') + 2]
    argv[argv.index('--vocab') + 1] = 'cat, dog'
    argv[argv.index('--config') + 1] = FVIT_TINY
    assert annotate.main(argv) == 0
    (record, objects), = stored_results(out).values()
    for check in CHECKS.values():
        check(out, [record], [objects], ['cat', 'dog'])
    service = AnnotationService(default_configs(FVIT_TINY))
    session = AppSession.create(str(tmp_path))
    try:
        result = service.run(session, os.path.join(ROOT, 'demo', 'examples', 'shapes.png'),
                             'red square, green circle', 'detection')
        assert os.path.isfile(result.overlay)
    finally:
        session.close()
