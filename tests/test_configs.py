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
        if 'published_metrics_unverified' in cfg:  # says why no number could be verified
            assert 'published_metrics' not in cfg and cfg.published_metrics_unverified
        else:
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


COUNTING_CONFIGS = [c for c in LEAF_CONFIGS if os.sep + 'counting' + os.sep in c]


def test_counting_configs_cover_both_backbones_and_four_datasets():
    names = {os.path.basename(c) for c in COUNTING_CONFIGS}
    for backbone in ('vitb16', 'resnet50'):
        for dataset in ('sha', 'shb', 'qnrf', 'nwpu'):
            assert f'clip_ebc_{backbone}_{dataset}.py' in names


@pytest.mark.parametrize('path', COUNTING_CONFIGS, ids=os.path.basename)
def test_counting_config_records_its_source_and_encodes_prompts_verbatim(path):
    cfg = Config.fromfile(path)
    if 'countclip' in path:  # CountBench accuracy by number prompts
        assert cfg.published_metrics['source'] if 'published_metrics' in cfg else \
            cfg.published_metrics_unverified
        assert tuple(cfg.model.get('numbers', range(2, 11))) == tuple(range(2, 11))
        return
    assert cfg.published_metrics['source']
    assert all(k == 'source' or k.split('/')[1] in ('MAE', 'RMSE') for k in cfg.published_metrics)
    if 'clip_ebc' in path:
        assert list(cfg.model.template_set) == ['{}']
        assert cfg.test_evaluator.prefix in ('val', 'test')
        assert cfg.model.head.density_target == 'official'  # CLIP-EBC's one-pixel target
    else:  # PseCo's scoring rules (Hzzone/PseCo models.py, fsc147/4_1_train_roi_head.py)
        head = cfg.model.head
        assert (head.clamp_iou, head.point_offset, head.peak_inclusive) == (False, 0.0, True)


@pytest.mark.parametrize('name', ['clip_ebc_vitb16', 'clip_ebc_resnet50'])
def test_counting_architectures_build_without_weights(name):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', f'{name}.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    # CLIP-EBC: encoder features -> decoder -> learned projection into the joint space
    assert model.head.projection.out_channels == model.backbone.embed_dim
    assert model.head.decoder[0].conv1.in_channels == model.backbone.channels
    assert model.head.feature_stride == model.backbone.patch_size == 16


TRIDENT_SHORT_SIDES = dict(voc21=448, voc20=336, context60=576, context59=576, coco_object=448,
                           coco_stuff164k=448, cityscapes=688, ade20k=576)
#: dataset: (coarse threshold, cos factor, refine negative thresholds, SAM splits), from the
#: Trident repo's configs/cfg_*.py.
TRIDENT_REPO_SETTINGS = dict(
    voc21=(0.2, 1.2, True, 1), voc20=(0.2, 0.0, True, 1), context60=(0.15, 1.2, True, 1),
    context59=(0.15, 1.2, True, 1), coco_object=(0.25, 1.2, True, 1),
    coco_stuff164k=(0.05, 1.2, True, 1), cityscapes=(0.1, 3.0, False, 2),
    ade20k=(0.05, 1.2, False, 1))


@pytest.mark.parametrize('dataset,short_side', sorted(TRIDENT_SHORT_SIDES.items()))
def test_trident_configs_follow_the_protocol(dataset, short_side):
    path = os.path.join(ROOT, 'configs', 'segmentation',
                        f'trident_vitb16_{dataset}_{short_side}.py')
    cfg = Config.fromfile(path)
    head = cfg.model.head
    resize = [step for step in cfg.test_dataloader.dataset.pipeline if 'short_side' in step]
    assert resize[0].short_side == short_side
    stride = 112 if dataset == 'voc20' else 224
    assert (cfg.model.test_cfg.crop_size, cfg.model.test_cfg.stride) == (336, stride)
    assert head.logit_scale == 40.0 and head.aggregation.grid_stride == 16
    assert head.aggregate_on == 'tokens'
    coarse, cos, negative, splits = TRIDENT_REPO_SETTINGS[dataset]
    assert head.sam_refine.coarse_threshold == coarse and head.aggregation.cos_factor == cos
    assert head.refine_negative == negative and head.sam_splits == splits
    assert head.sam_input == 'original'  # SAM reads the image file, as the repo does
    assert head.sam_refine_style == 'official'
    assert cfg.test_dataloader.dataset.classnames_file == (
        'trident/' + dataset.replace('coco_stuff164k', 'coco_stuff'))
    backbone = cfg.model.backbone
    assert backbone.type.__name__ == 'ProxyCLIPBackbone'
    assert (backbone.proxy.arch, backbone.proxy.pretrained) == ('vit_base_patch16_224', 'dino')
    assert (backbone.beta, backbone.gamma, backbone.proxy_features) == (1.2, 3.0, 'tokens')
    assert head.sam.model_type == 'vit_b' and head.sam.checkpoint.endswith('sam_vit_b_01ec64.pth')
    assert head.sam_refine.min_area == 225 and head.sam_refine.iou_threshold == 0.8
    background = head.get('background_index') == 0
    assert background == (dataset in ('voc21', 'context60', 'coco_object'))
    assert tuple(head.sam_refine.get('skip_labels', ())) == ()  # the repo refines class 0 too
    assert 'Trident' in cfg.published_metrics['source']


def test_trident_architecture_builds_without_weights():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', 'trident_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    cfg.model.backbone.proxy.pretrained = None
    cfg.model.head.sam.checkpoint = None
    model = MODELS.build(cfg.model)
    assert model.head.aggregation.grid_stride == model.backbone.patch_size == 16
    assert model.backbone.clip.patch_size == model.backbone.proxy.patch_size == 16
    assert model.backbone.embed_dim == 512 and model.head.aggregate_on == 'tokens'
    assert not model.backbone.project and model.head._project  # raw tokens, projected by the head
    assert model.head.sam.image_size == 1024 and model.head.sam.patch_size == 16
    assert model.head.sam.model.image_encoder.blocks[-1].window_size == 0  # keep_qkv works


def test_tiny_trident_config_uses_proxy_attention_with_patch16_dino():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_trident.py'))
    init_default_scope('ovperception')
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'ProxyCLIPBackbone'
    assert model.backbone.proxy.patch_size == model.backbone.patch_size == 16
    assert model.head.aggregation.grid_stride == 16 and model.head.aggregate_on == 'features'


DETECTION_CONFIGS = [c for c in LEAF_CONFIGS if (os.sep + 'detection' + os.sep in c
                     or os.path.basename(c).startswith('det_')) and 'fvit' not in c]
# F-ViT's configs (a detector of its own, with published numbers): tests/models/test_fvit_convert.py


def test_detection_configs_exist_for_each_proposal_source_and_dataset():
    names = {os.path.basename(c) for c in DETECTION_CONFIGS}
    assert {'ovdet_cc_vitb16_ov_coco.py', 'ovdet_sam_vitb16_ov_coco.py',
            'ovdet_learned_vitb16_ov_coco.py', 'ovdet_cc_vitb16_lvis.py', 'det_tiny.py',
            'det_tiny_learned.py', 'det_tiny_sam.py'} <= names


@pytest.mark.parametrize('path', DETECTION_CONFIGS, ids=os.path.basename)
def test_detection_config_fields(path):
    cfg = Config.fromfile(path)
    head = cfg.model.head
    assert head.type.__name__ == 'OVDetectionHead'
    assert 'published_metrics' not in cfg, 'no reference number exists for these methods'
    if 'ov_coco' in path:
        dataset = cfg.test_dataloader.dataset
        assert dataset.type.__name__ == 'OVCOCODataset' and dataset.split == 'all'
        assert cfg.test_evaluator.type.__name__ == 'CocoMetric'
    if 'learned' in path:
        assert cfg.train_dataloader is not None and head.proposals.type.__name__ == \
            'LearnedProposals'
        if 'ov_coco' in path:
            assert cfg.train_dataloader.dataset.split == 'base'
    init_default_scope('ovperception')
    if os.path.basename(path).startswith('det_'):
        assert MODELS.build(cfg.model).head.proposals is not None
@pytest.mark.parametrize('method', ['proxyclip', 'clip_dinoiser', 'scclip', 'resclip_naclip',
                                    'lposs_plus', 'talk2dino', 'cass', 'corrclip'])
def test_dino_and_2025_methods_have_configs_for_every_benchmark(method):
    names = {os.path.basename(c) for c in LEAF_CONFIGS}
    for dataset in ('voc21', 'voc20', 'context60', 'context59', 'coco_object',
                    'coco_stuff164k', 'cityscapes', 'ade20k'):
        assert any(n.startswith((f'{method}_vitb16_{dataset}_', f'{method}_vitb14_{dataset}_'))
                   for n in names), (method, dataset)


def test_clip_dinoiser_background_filter_only_where_the_paper_uses_it():
    for path in LEAF_CONFIGS:
        name = os.path.basename(path)
        if name.startswith('clip_dinoiser_vitb16_') and 'train' not in name:
            cfg = Config.fromfile(path)
            expected = 'voc21' in name or 'coco_object' in name
            assert cfg.model.backbone.append_saliency == expected, name


@pytest.mark.parametrize('base', ['proxyclip_vitb16', 'clip_dinoiser_vitb16'])
def test_dino_architectures_build_without_weights(base):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', f'{base}.py'))
    init_default_scope('ovperception')
    backbone = cfg.model.backbone
    backbone.clip.pretrained = None
    if 'proxy' in backbone:
        backbone.proxy.pretrained = None
    else:
        backbone.weights = None
    model = MODELS.build(cfg.model)
    assert model.backbone.embed_dim == 512 and model.backbone.clip.patch_size == 16
    if 'proxy' in backbone:
        assert model.backbone.proxy.patch_size == 8 and model.backbone.patch_size == 8


@pytest.mark.parametrize('name', ['segmentation/fcclip_convnext_large_coco_panoptic_train.py',
                                  'segmentation/fcclip_convnext_large_ade20k_panoptic_800.py',
                                  'tiny/fcclip_tiny.py'])
def test_panoptic_fcclip_configs_evaluate_instances_with_coco_metric(name):
    from ovperception.evaluation import CocoMetric, IoUMetric, PanopticMetric
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', name))
    assert cfg.model.test_cfg.instance_on and cfg.model.test_cfg.panoptic_on
    evaluators = {e['type']: e for e in cfg.test_evaluator}
    assert {CocoMetric, IoUMetric, PanopticMetric} <= set(evaluators)
    assert evaluators[CocoMetric]['metric'] == ['segm', 'bbox']
    if 'tiny' not in name:
        assert 0 < cfg.published_metrics['coco/segm_mAP'] < 1  # a fraction, as CocoMetric's


def test_scclip_architecture_builds_with_the_repo_protocol():
    """ViT-B/16 OpenAI (random here), the official layer indices and CLIP protocol."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', 'scclip_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert backbone.embed_dim == 512 and backbone.patch_size == 16
    assert (backbone.pre_adjust_layer, backbone.post_adjust_layer) == (8, 3)
    assert backbone.fusion_layers == (3, 10) and backbone.cls_residual == 0.3
    assert backbone.clip.pos_embed_resize == 'bicubic_offset'
    assert backbone.grid_placement == (None, False)  # floor grid stretched (dropped remainder)


@pytest.mark.parametrize('dataset, short_side, head', [
    ('voc21_336', 336, dict(logit_scale=50.0, prob_threshold=0.15, area_threshold=0.1)),
    ('context60_336', 336, dict(logit_scale=40.0, prob_threshold=0.15)),
    ('coco_object_336', 336, dict(logit_scale=55.0, prob_threshold=0.35)),
    ('coco_stuff164k_336', 336, dict(logit_scale=40.0, prob_threshold=0.0)),
    ('cityscapes_560', 560, dict(logit_scale=40.0, prob_threshold=0.0)),
])
def test_scclip_configs_follow_the_repo_settings(dataset, short_side, head):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       f'scclip_vitb16_{dataset}.py'))
    assert cfg.test_dataloader.dataset.pipeline[1].short_side == short_side
    for key, value in head.items():
        assert cfg.model.head.get(key, 0.0) == value, key
    assert cfg.test_dataloader.dataset.classnames_file.startswith('sclip/')
    assert cfg.model.test_cfg.crop_size == 224 and cfg.model.test_cfg.stride == 112
    assert 'not verified' in cfg.published_metrics['source']


def test_resclip_architecture_composes_the_naclip_dense_mode():
    """ResCLIP is a plug-in: the NACLIP dense mode of the wrapped CLIP config, RCS blocks 5-8."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', 'resclip_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    backbone = MODELS.build(cfg.model).backbone
    assert backbone.clip.dense_mode == 'naclip' and backbone.clip.naclip_gaussian_std == 5.0
    assert backbone.rcs_layers == (5, 9) and backbone.text_conditioned
    assert backbone.sfr_pamr == dict(num_iter=10, dilations=(8, 16))


@pytest.mark.parametrize('dataset, mode, threshold, rcs, sfr', [
    ('voc21_336', 'whole', 0.5, (2.0, 0.3), (2.2, 0.7)),
    ('voc20_336', 'whole', 0.1, (2.0, 0.6), (2.1, 0.6)),
    ('context60_336', 'slide', 0.3, (2.0, 0.3), (1.8, 0.7)),
    ('cityscapes_560', 'slide', 0.1, (2.0, 0.2), (2.1, 0.6)),
])
def test_resclip_configs_follow_the_repo_settings(dataset, mode, threshold, rcs, sfr):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       f'resclip_naclip_vitb16_{dataset}.py'))
    backbone = cfg.model.backbone
    assert cfg.model.test_cfg.mode == mode and backbone.sfr_threshold == threshold
    assert tuple(backbone.rcs_weights) == rcs and tuple(backbone.sfr_weights) == sfr
    assert 'ResCLIP README results table' in cfg.published_metrics['source']


def test_lposs_architecture_builds_with_the_repo_protocol():
    """OpenCLIP ViT-B/16 (MaskCLIP) + DINO ViT-B/16 values (random here), LPOSS+ defaults."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', 'lposs_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    cfg.model.backbone.dino.pretrained = None
    model = MODELS.build(cfg.model)
    backbone, head = model.backbone, model.head
    assert backbone.clip.dense_mode == 'maskclip' and backbone.dino_features == 'v'
    assert backbone.patch_size == 16 and backbone.grid_placement == (None, False)
    assert (head.alpha, head.k, head.gamma, head.sigma, head.tau) == (0.95, 400, 3.0, 0.01, 0.01)
    assert head.pixel_refine and head.radius_window == 13 and head.uses_images
    assert model.test_cfg['crop_size'] == 224 and model.test_cfg['stride'] == 112


@pytest.mark.parametrize('dataset', ['voc21', 'voc20', 'context60', 'context59', 'coco_object',
                                     'coco_stuff164k', 'cityscapes', 'ade20k'])
def test_lposs_configs_follow_the_repo_settings(dataset):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       f'lposs_plus_vitb16_{dataset}_448.py'))
    assert cfg.test_dataloader.dataset.pipeline[1].short_side == 448
    assert cfg.test_dataloader.dataset.classnames_file.startswith('lposs/')
    assert 'not verified' in cfg.published_metrics['source']
    assert 20 < cfg.published_metrics['mIoU'] < 80


def test_talk2dino_architecture_builds_with_the_repo_protocol():
    """DINOv2 ViT-B/14-reg + OpenAI CLIP text (random here) + the ViT-B projection's shape."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models',
                                       'talk2dino_vitb14.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    cfg.model.backbone.dino.pretrained = None
    cfg.model.head.weights = None
    model = MODELS.build(cfg.model)
    backbone, head = model.backbone, model.head
    assert backbone.dino.num_prefix_tokens == 5 and backbone.patch_size == 14
    assert backbone.resize_dim == 448 and backbone.attn_scale == 0.125
    assert backbone.feature_dim == 768 and backbone.num_heads == 12
    assert head.projection.input_layer.weight.shape == (768, 512) and len(head.projection.hidden) == 1
    assert head.pamr_steps == 10 and head.pamr_dilations == (1, 2, 4, 8, 12, 24)
    assert model.template_set == 'imagenet7'
    assert model.test_cfg['crop_size'] == 448 and model.test_cfg['stride'] == 224


@pytest.mark.parametrize('dataset,background,clean', [
    ('voc21', True, True), ('context60', True, False), ('coco_object', True, True),
    ('voc20', False, False), ('context59', False, False), ('coco_stuff164k', False, False),
    ('cityscapes', False, False), ('ade20k', False, False)])
def test_talk2dino_configs_follow_the_repo_settings(dataset, background, clean):
    """Background class at 0.55 and the attention clean only where the repo's configs set them."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       f'talk2dino_vitb14_{dataset}_448.py'))
    head = cfg.model.head
    assert (head.get('background_index') == 0) == background
    assert head.background_clean == clean and head.background_threshold == 0.55
    assert cfg.test_dataloader.dataset.pipeline[1].short_side == 448
    assert cfg.test_dataloader.dataset.classnames_file.startswith('talk2dino/')
    if 'published_metrics' in cfg:
        assert 'not verified' in cfg.published_metrics['source']


def test_cass_architecture_builds_with_the_repo_protocol():
    """OpenAI CLIP ViT-B/16 + DINO ViT-B/8 (random here), heads paired one to one."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', 'cass_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    cfg.model.backbone.dino.pretrained = None
    model = MODELS.build(cfg.model)
    backbone, head = model.backbone, model.head
    assert backbone.dino.patch_size == 8 and backbone.dino.num_heads == 12
    assert backbone.grid_placement == (None, False) and backbone.gaussian_std == 5.0
    assert (backbone.k_eigen, backbone.dino_weight, backbone.energy) == (20, 10.0, 0.95)
    assert head.logit_scale == 40.0 and model.template_set == 'imagenet80'
    assert model.test_cfg['crop_size'] == 224 and model.test_cfg['stride'] == 112


@pytest.mark.parametrize('dataset,side,stretch,source,weights,threshold', [
    ('voc21', 336, True, 'window', (0.1, 0.03, 0.10), 0.1),
    ('context60', 336, True, 'image', (0.25, 0.04, 0.09), 0.1),
    ('coco_object', 336, True, 'image', (0.25, 0.01, 0.10), 0.1),
    ('voc20', 336, False, 'image', (0.4, 0.02, 0.10), 0.0),
    ('context59', 336, True, 'image', (0.25, 0.04, 0.09), 0.0),
    ('coco_stuff164k', 336, True, 'image', (0.2, 0.02, 0.02), 0.0),
    ('cityscapes', 560, False, 'window', (0.1, 0.03, 0.14), 0.0),
    ('ade20k', 336, True, 'image', (0.3, 0.05, 0.06), 0.0)])
def test_cass_configs_follow_the_repo_settings(dataset, side, stretch, source, weights,
                                               threshold):
    """MICV-yonsei/CASS 228ecdd configs/cfg_*.py; PAMR off on every benchmark (eval_all.sh
    and the README run ``eval.py --pamr off``, which sets ``pamr_steps=0``)."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       f'cass_vitb16_{dataset}_{side}.py'))
    head = cfg.model.head
    assert (head.global_weight, head.mean_vector_weight, head.cluster_threshold) == weights
    assert head.get('score_refiner') is None and 'refiners' not in cfg.model  # --pamr off
    assert head.prob_threshold == threshold
    assert head.get('background_index') == (0 if threshold else None)
    assert head.global_source == source
    assert cfg.model.backbone.stretch_singular_values == stretch
    assert cfg.test_dataloader.dataset.pipeline[1].short_side == side
    assert cfg.test_dataloader.dataset.classnames_file.startswith('sclip/')
    assert (cfg.model.test_cfg.mode == 'whole') == (dataset == 'voc21')
    assert 'not verified' in cfg.published_metrics['source']
def test_corrclip_architecture_builds_with_the_repo_protocol():
    """MetaCLIP ViT-B/16 + DINO ViT-B/8 (random here), the repo's hyper-parameters, the map
    correction, pre-generated region masks by default and online SAM 2 as the option."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', 'corrclip_vitb16.py'))
    init_default_scope('ovperception')
    cfg.model.backbone.clip.pretrained = None
    cfg.model.backbone.dino.pretrained = None
    assert cfg.model.backbone.clip.model_name == 'ViT-B-16-quickgelu'
    assert cfg.sam2_regions.config == 'configs/sam2/sam2_hiera_l.yaml'
    assert (cfg.sam2_regions.points_per_side, cfg.sam2_regions.pred_iou_thresh) == (8, 0.4)
    model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert (backbone.alpha, backbone.beta, backbone.tau, backbone.merge_eps) == (1.0, 0.5, 4.0, 0.2)
    assert backbone.num_spatial == 5 and backbone.pad_multiple == 56
    assert backbone.grid_placement == (8, True)
    assert type(backbone.regions).__name__ == 'PrecomputedRegionMasks'
    assert [type(r).__name__ for r in model.refiners] == ['RegionVoteRefiner']
    assert model.head.logit_scale == 40.0


@pytest.mark.parametrize('dataset,short_side,crop,threshold', [
    ('voc21', 336, 336, 0.2), ('voc20', 336, 336, 0.0), ('context60', 336, 336, 0.15),
    ('context59', 336, 336, 0.0), ('coco_object', 336, 336, 0.25),
    ('coco_stuff164k', 336, 336, 0.0), ('cityscapes', 448, 224, 0.0), ('ade20k', 448, 336, 0.0)])
def test_corrclip_configs_follow_the_repo_settings(dataset, short_side, crop, threshold):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       f'corrclip_vitb16_{dataset}_{short_side}.py'))
    assert cfg.test_dataloader.dataset.pipeline[1].short_side == short_side
    assert cfg.model.test_cfg.crop_size == crop and cfg.model.test_cfg.stride == 112
    assert cfg.model.head.prob_threshold == threshold
    assert cfg.test_dataloader.dataset.classnames_file.startswith('corrclip/')
    assert cfg.model.backbone.regions.directory.startswith('data/region_masks/')
    assert 'CorrCLIPv1/README.md' in cfg.published_metrics['source']
    assert 25 < cfg.published_metrics['mIoU'] < 90
