"""Anomaly configs: published numbers, evaluators, protocol settings; tiny configs build."""
from __future__ import annotations

import glob
import os

import open_clip
import pytest
from mmengine.config import Config

from ovperception.evaluation.anomaly.anomaly_metric import ALLOWED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANOMALY_CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'anomaly', '*.py')))


def test_every_method_has_configs_for_both_benchmarks():
    names = {os.path.basename(p) for p in ANOMALY_CONFIGS}
    for method in ('winclip_vitb16plus', 'anovl_vitb16plus', 'anomalyclip_vitl14_336',
                   'adaclip_vitl14_336'):
        for dataset in ('mvtec', 'visa'):
            assert f'{method}_{dataset}.py' in names
    assert {'anomalyclip_vitl14_336_visa_train.py', 'anomalyclip_vitl14_336_mvtec_train.py'} <= names
    assert {'adaclip_vitl14_336_visa_train.py', 'adaclip_vitl14_336_mvtec_train.py'} <= names
    for dataset in ('mvtec', 'visa'):
        assert {f'winclip_plus_vitb16plus_{dataset}_{k}shot.py' for k in (1, 2, 4)} <= names
        assert {f'musc_vitl14_336_{dataset}.py', f'anomalydino_vits14_{dataset}_1shot.py'} <= names


def test_published_numbers_are_recorded_where_known():
    """Every zero-shot WinCLIP / AnomalyCLIP and the 1-shot WinCLIP+ configs quote numbers."""
    for path in ANOMALY_CONFIGS:
        name = os.path.basename(path)
        if name.startswith('anovl') or name.endswith(('_train.py', '_2shot.py', '_4shot.py',
                                                      '_folder.py')):  # _folder: your own data
            continue
        if name == 'anomalydino_vits14_visa_1shot.py':  # no VisA number verified (the
            assert 'published_metrics' not in Config.fromfile(path)  # config says so)
            continue
        assert 'published_metrics' in Config.fromfile(path), name


@pytest.mark.parametrize('path', ANOMALY_CONFIGS, ids=os.path.basename)
def test_anomaly_config_protocol(path):
    cfg = Config.fromfile(path)
    name = os.path.basename(path)
    assert cfg.test_evaluator.type.__name__ == 'AnomalyMetric'
    assert cfg.test_evaluator.aupro_fpr_limit == 0.3
    if name.startswith('musc'):  # official utils/metrics.py: cal_pro_score, no smoothing
        assert cfg.test_evaluator.aupro_variant == 'thresholded'
        assert cfg.test_evaluator.gaussian_sigma == 0.0
        resize = cfg.test_dataloader.dataset.pipeline[2]
        assert resize['size'] == (518, 518) and resize['backend'] == 'pillow'
        assert cfg.model.backbone.model_name == 'ViT-L-14-336'
        assert cfg.model.feature_layers == (5, 11, 17, 23)
        assert cfg.model.aggregation_degrees == (1, 3, 5) and cfg.model.interval_fraction == 0.3
        assert cfg.model.rescore_k == ((1, 8, 9) if 'visa' in name else (1, 2, 3))
        assert cfg.test_cfg.type.__name__ == 'SetTestLoop'
        return
    if name.startswith('adaclip'):  # official tools/metrics.py: no AUPRO; trainer.py: sigma 4
        assert cfg.test_evaluator.gaussian_sigma == 4.0
        assert set(cfg.test_evaluator.metrics) == {'image_AUROC', 'image_AP', 'image_F1max',
                                                   'pixel_AUROC', 'pixel_AP', 'pixel_F1max'}
        resize = cfg.test_dataloader.dataset.pipeline[2]
        assert resize['size'] == (518, 518) and resize['backend'] == 'pillow'
        backbone, head = cfg.model.backbone, cfg.model.head
        assert backbone.model_name == 'ViT-L-14-336' and backbone.pos_embed_resize == 'bicubic'
        assert backbone.model_kwargs == dict(quick_gelu=False)  # the release runs exact GELU
        assert tuple(head.feature_layers) == (5, 11, 17, 23)
        assert (head.prompt_length, head.prompt_depth, head.k_clusters) == (5, 4, 20)
        assert head.dynamic_prompts and head.use_hsf and head.dice_reduction == 'row'
        assert cfg.test_dataloader.dataset.object_names == 'category'  # 'metal_nut', 'pcb1'
        if name.endswith('_train.py'):
            assert cfg.train_dataloader.batch_size == 1 and cfg.train_cfg.max_epochs == 5
            optimizer = cfg.optim_wrapper.optimizer
            assert optimizer.type.__name__ == 'AdamW' and optimizer.lr == 0.01
            assert optimizer.betas == (0.5, 0.999)
            assert cfg.train_dataloader.dataset.split == 'test'
            assert cfg.train_dataloader.dataset.object_names == 'category'
            mosaic = [t for t in cfg.train_dataloader.dataset.pipeline
                      if t['type'].__name__ == 'AnomalyMosaic']  # aug_rate: MVTec 0.2, VisA 0
            assert [t['rate'] for t in mosaic] == ([0.2] if 'mvtec' in name else [])
            assert cfg.train_dataloader.dataset.get('category_pool', False) == bool(mosaic)
        else:
            published = cfg.published_metrics
            assert (published.image_AUROC, published.pixel_AUROC) == (
                (89.2, 88.7) if 'mvtec' in name else (85.8, 95.5))
            assert 'sotaverified' in published.source
        return
    if name.startswith('anomalydino'):  # official post_eval.py: MVTec's exact AUPRO, sigma 4
        assert cfg.test_evaluator.aupro_variant == 'mvtec'
        assert cfg.test_evaluator.gaussian_sigma == 4.0
        resize = cfg.test_dataloader.dataset.pipeline[2]
        assert resize['short_edge'] == 448 and resize['backend'] == 'pillow'
        assert cfg.model.backbone.arch == 'vit_small_patch14_dinov2'
        assert cfg.model.backbone.pos_embed_resize == 'bicubic_offset'
        assert cfg.model.head.knn == 1 and cfg.model.head.rotation is True
        shots = [h for h in cfg.custom_hooks if h['type'].__name__ == 'FewShotMemoryHook']
        assert len(shots) == 1 and shots[0].k == 1 and shots[0].draw == 'slice'
        return
    # every source (AnomalyCLIP metrics.py, Accurate-WinCLIP, AnoVL vl_test.py) reports the
    # 200-step thresholded AUPRO; only AnomalyCLIP smooths (sigma 4)
    assert cfg.test_evaluator.aupro_variant == 'thresholded'
    assert cfg.test_evaluator.gaussian_sigma == (4.0 if name.startswith('anomalyclip') else 0.0)
    size = cfg.test_dataloader.dataset.pipeline[2]['size']
    backbone = cfg.model.backbone
    if name.startswith('anomalyclip'):
        assert size == (518, 518) and cfg.test_evaluator.gaussian_sigma == 4.0
        width = open_clip.get_model_config(backbone.model_name)['text_cfg']['width']
        assert cfg.model.head.text_width == width
        depth = open_clip.get_model_config(backbone.model_name)['vision_cfg']['layers']
        # the released recipe (train.sh / test.sh: --features_list 24): last block only
        assert tuple(cfg.model.head.feature_layers) == (depth - 1,)
        assert cfg.model.head.dpam_blocks == 19 and backbone.pos_embed_resize == 'bilinear'
        assert cfg.model.head.local_loss_weight == 4.0 and not cfg.model.head.global_ln_post
    else:
        assert size == (240, 240) and backbone.model_name == 'ViT-B-16-plus-240'
    shots = [h for h in cfg.get('custom_hooks', [])
             if getattr(h['type'], '__name__', str(h['type'])).endswith('FewShotMemoryHook')]
    if name.startswith('winclip_plus'):  # WinCLIP+ k-shot: one memory hook, k from the name
        assert len(shots) == 1 and name.endswith(f'_{shots[0].k}shot.py') and shots[0].k in (1, 2, 4)
        assert cfg.test_dataloader.dataset.type.__name__ in ('MVTecADDataset', 'VisADataset')
    else:
        assert not shots
    if name.endswith('_train.py'):
        assert cfg.train_dataloader.dataset.split == 'test'  # trained on the auxiliary test set
    elif not name.startswith('anovl') and 'published_metrics' in cfg:
        published = {k: v for k, v in cfg.published_metrics.items() if k != 'source'}
        assert set(published) <= set(ALLOWED) and all(50 < v < 100 for v in published.values())
        assert cfg.published_metrics['source']
