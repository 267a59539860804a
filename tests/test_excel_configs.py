"""ExCEL configs: ImageNet normalisation (the official ``normalize_img``), the official training
schedule and data pipelines, run on a synthetic VOC-layout folder."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest
from mmengine.config import Config

from ovperception.models.data_preprocessor import IMAGENET_MEAN, IMAGENET_STD
from ovperception.registry import DATASETS, MODELS, TRANSFORMS
from ovperception.utils.image_io import load_label_map
from tests.voc_layout import VOC_TRAIN, VOC_VAL, write_voc_layout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: datasets/transforms.py normalize_img of zwyang6/ExCEL @ 2cd7f51
OFFICIAL_MEAN = (123.675, 116.28, 103.53)
OFFICIAL_STD = (58.395, 57.12, 57.375)
FULL = ('excel_vitb16_voc_train', 'excel_vitb16_voc_val_msc',
        'excel_vitb16_voc_train_pseudo', 'excel_vitb16_voc_train_pseudo_trained',
        'excel_vitb16_tagged_images_train', 'excel_vitb16_coco_train',
        'excel_vitb16_coco_val_msc')
EXCEL_CONFIGS = tuple(f'segmentation/{n}.py' for n in FULL) + ('tiny/seg_tiny_excel.py',
                                                                 'tiny/seg_tiny_excel_train.py')
TAGS = 'ImageTagsFromMask'


def _config(name: str) -> Config:
    return Config.fromfile(os.path.join(ROOT, 'configs', name))


@pytest.mark.parametrize('name', EXCEL_CONFIGS)
def test_excel_configs_normalise_with_imagenet_statistics(name: str) -> None:
    cfg = _config(name)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    assert preprocessor.mean.flatten().tolist() == pytest.approx(OFFICIAL_MEAN)
    assert preprocessor.std.flatten().tolist() == pytest.approx(OFFICIAL_STD)
    assert (IMAGENET_MEAN, IMAGENET_STD) == (OFFICIAL_MEAN, OFFICIAL_STD)


@pytest.mark.parametrize('name', EXCEL_CONFIGS)
def test_dumped_excel_configs_keep_the_statistics(name: str, tmp_path) -> None:
    """The runner dumps the config into its work_dir; reloading it keeps the values."""
    _config(name).dump(str(tmp_path / 'dumped.py'))
    dumped = Config.fromfile(str(tmp_path / 'dumped.py')).model.data_preprocessor
    assert tuple(dumped.mean) == OFFICIAL_MEAN and tuple(dumped.std) == OFFICIAL_STD


def test_train_config_has_the_official_settings() -> None:
    cfg = _config('segmentation/excel_vitb16_voc_train.py')
    assert cfg.train_dataloader.batch_size == 4 and cfg.train_dataloader.sampler.shuffle
    assert cfg.train_dataloader.dataset.type.__name__ == 'PascalVOCAugDataset'
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (30000, 2000)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.weight_decay, optimizer.eps) == (1e-3, 1e-2, 1e-8)
    assert tuple(optimizer.betas) == (0.9, 0.999) and cfg.optim_wrapper.get('clip_grad') is None
    (scheduler,) = cfg.param_scheduler
    assert scheduler.type.__name__ == 'PolyWarmupLR'
    assert (scheduler.warmup_iters, scheduler.warmup_ratio, scheduler.max_iters,
            scheduler.power) == (50, 1e-6, 30000, 1.0)
    assert scheduler.by_epoch is False and (scheduler.begin, scheduler.end) == (0, 30000)
    assert cfg.randomness.seed == 0
    model = cfg.model
    assert model.seg_head.type == 'ExCELSegHead' and model.seg_head.num_classes == 21
    assert model.head_classes == 'excel/voc21'
    assert dict(model.train_cfg) == dict(lvc_start_iter=14000, seg_affinity_start_iter=24000,
                                         affinity_radius=8, affinity_weight=0.1,
                                         box_threshold=0.79, ignore_index=255)
    assert dict(model.segmenter_cfg) == dict(size=320, scales=(1.0,), flip=False,
                                             predict_from='segmenter')
    assert '75.613' in cfg.published_metrics_unverified
    assert cfg.val_dataloader.dataset.get('ann_file') is None  # PascalVOCDataset: val.txt


def test_evaluation_configs_follow_the_official_inference() -> None:
    msc = _config('segmentation/excel_vitb16_voc_val_msc.py')
    assert dict(msc.model.segmenter_cfg) == dict(size=320, scales=(0.7, 1.0, 1.2, 1.5),
                                                 flip=True, predict_from='segmenter')
    assert msc.published_metrics['mIoU'] == 78.4 and 'README' in msc.published_metrics.source
    trained = _config('segmentation/excel_vitb16_voc_train_pseudo_trained.py')
    assert trained.model.segmenter_cfg.predict_from == 'pseudo_masks'
    assert trained.model.tags_from_ground_truth
    for cfg in (trained, _config('segmentation/excel_vitb16_voc_train_pseudo.py')):
        assert cfg.test_dataloader.dataset.ann_file == 'ImageSets/Segmentation/train.txt'


def _dataset(loader: dict, data_root: str, drop: str | None = None) -> object:
    dataset = copy.deepcopy(loader['dataset'])
    dataset['data_root'] = data_root
    dataset['pipeline'] = [t for t in dataset['pipeline'] if t['type'] != drop]
    return DATASETS.build(dataset)


def _has_tags_transform() -> bool:
    import ovperception.datasets  # noqa: F401  (registers the transforms)
    return TRANSFORMS.get(TAGS) is not None


def test_train_pipeline_gives_320_crops_with_black_and_255_padding(tmp_path) -> None:
    voc = write_voc_layout(str(tmp_path), size=(40, 56))  # smaller than the crop
    cfg = _config('segmentation/excel_vitb16_voc_train.py')
    dataset = _dataset(cfg.train_dataloader, voc, drop=None if _has_tags_transform() else TAGS)
    assert len(dataset) == len(VOC_TRAIN) + 1
    np.random.seed(0)
    for index in range(len(dataset)):
        packed = dataset[index]
        image, labels = packed['inputs'], packed['data_samples'].gt_sem_seg.data[0]
        assert tuple(image.shape) == (3, 320, 320) and tuple(labels.shape) == (320, 320)
        black = (image == 0).all(dim=0)  # the padding (random pixels are never all 0)
        assert black.float().mean() > 0.5  # a 40 x 56 image scaled at most x 2
        assert (labels[black] == 255).all()
        assert packed['data_samples'].classnames[0] == 'background'


def test_train_pipeline_carries_image_tags_from_the_full_mask(tmp_path) -> None:
    if not _has_tags_transform():
        pytest.skip(f'{TAGS} (ovperception/datasets/image_tags.py) comes with the ExCEL '
                    'model branch of issue #28')
    voc = write_voc_layout(str(tmp_path))
    dataset = _dataset(_config('segmentation/excel_vitb16_voc_train.py').train_dataloader, voc)
    for index in range(len(dataset)):
        sample = dataset[index]['data_samples']
        full = load_label_map(sample.seg_map_path)
        assert sample.image_tags == sorted(set(np.unique(full).tolist()) - {0, 255})


@pytest.mark.parametrize('name, count', [('excel_vitb16_voc_train', len(VOC_VAL)),
                                         ('excel_vitb16_voc_val_msc', len(VOC_VAL)),
                                         ('excel_vitb16_voc_train_pseudo_trained',
                                          len(VOC_TRAIN))])
def test_evaluation_pipelines_keep_full_size_images_and_labels(tmp_path, name: str,
                                                               count: int) -> None:
    voc = write_voc_layout(str(tmp_path), size=(40, 56))
    cfg = _config(f'segmentation/{name}.py')
    loader = cfg.val_dataloader if cfg.get('val_dataloader') else cfg.test_dataloader
    dataset = _dataset(loader, voc)
    assert len(dataset) == count
    packed = dataset[0]
    assert tuple(packed['inputs'].shape) == (3, 40, 56)
    assert tuple(packed['data_samples'].gt_sem_seg.data.shape) == (1, 40, 56)


def test_tagged_images_config_trains_on_tags_without_masks(tmp_path) -> None:
    from PIL import Image
    from ovperception.datasets.transforms import PackOVInputs
    rng = np.random.RandomState(0)
    for folder, names in (('images', ('a.jpg', 'b.jpg')), ('val/images', ('c.jpg',))):
        os.makedirs(tmp_path / folder)
        for name in names:
            pixels = rng.randint(1, 256, (200, 260, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / name)
    os.makedirs(tmp_path / 'val' / 'masks')
    Image.fromarray(np.full((200, 260), 2, np.uint8)).save(tmp_path / 'val' / 'masks' / 'c.png')
    (tmp_path / 'tags.csv').write_text('image,tags\na.jpg,dog|person\nb.jpg,cat\n')
    cfg = _config('segmentation/excel_vitb16_tagged_images_train.py')
    assert cfg.model.seg_head.num_classes == len(cfg.model.head_classes) == 4
    assert cfg.val_dataloader is None and cfg.model.descriptions_file is None
    train = _dataset(cfg.train_dataloader, str(tmp_path))
    assert [train.get_data_info(i)['image_tags'] for i in range(2)] == [[2, 3], [1]]
    packed = train[0]
    assert tuple(packed['inputs'].shape) == (3, 320, 320)
    assert 'gt_sem_seg' not in packed['data_samples']
    if 'image_tags' in PackOVInputs.DEFAULT_META_KEYS:
        assert packed['data_samples'].image_tags == [2, 3]
    test = _dataset(cfg.test_dataloader, str(tmp_path))
    assert len(test) == 1 and test[0]['data_samples'].gt_sem_seg.data.max() == 2


# ------------------------------------------------------------------------ MS COCO 2014
#: zwyang6/ExCEL @ 2cd7f51 datasets/clip_text.py BACKGROUND_CATEGORY_COCO
OFFICIAL_COCO_BACKGROUND = (
    'ground', 'land', 'grass', 'tree', 'building', 'wall', 'sky', 'lake', 'water', 'river',
    'sea', 'railway', 'railroad', 'helmet', 'cloud', 'house', 'mountain', 'ocean', 'road',
    'rock', 'street', 'valley', 'bridge')
COCO_TRAIN = 'segmentation/excel_vitb16_coco_train.py'
COCO_MSC = 'segmentation/excel_vitb16_coco_val_msc.py'


def test_coco_train_config_has_the_official_settings() -> None:
    """Value by value against scripts/train_coco.py's argparse (and its log's eval_iters)."""
    cfg = _config(COCO_TRAIN)
    loader = cfg.train_dataloader
    assert loader.batch_size == 4 and loader.sampler.shuffle                 # --spg 4
    assert loader.dataset.type.__name__ == 'COCO2014Dataset'
    assert loader.dataset.data_prefix.img_path.endswith('train2014')         # --train_set
    assert loader.dataset.get('ann_file') is None
    crop = [t for t in loader.dataset.pipeline if t['type'].__name__ == 'RandomCrop'][0]
    assert (crop.crop_size, crop.cat_max_ratio, crop.pad) == (320, 1.0, True)  # --crop_size
    resize = [t for t in loader.dataset.pipeline if t['type'].__name__ == 'RandomResize'][0]
    assert tuple(resize.ratio_range) == (0.5, 2.0)                          # rescale_range
    names = [t['type'].__name__ for t in loader.dataset.pipeline]
    assert names.index('ImageTagsFromMask') < names.index('RandomResize')   # full-image tags
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (100000, 10000)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.weight_decay, optimizer.eps) == (1e-3, 1e-2, 1e-8)  # lr x 10
    assert tuple(optimizer.betas) == (0.9, 0.999) and cfg.optim_wrapper.get('clip_grad') is None
    (scheduler,) = cfg.param_scheduler
    assert scheduler.type.__name__ == 'PolyWarmupLR'
    assert (scheduler.warmup_iters, scheduler.warmup_ratio, scheduler.max_iters,
            scheduler.power) == (200, 1e-6, 100000, 1.0)
    assert scheduler.by_epoch is False and (scheduler.begin, scheduler.end) == (0, 100000)
    assert cfg.randomness.seed == 0 and cfg.default_hooks.checkpoint.interval == 10000
    model = cfg.model
    assert model.seg_head.num_classes == 81 and model.head_classes == 'excel/coco81'
    assert (model.seg_head.embed_dim, model.seg_head.in_channels) == (256, 768)
    assert model.num_attribute_clusters == 224                               # --num_attri
    assert model.descriptions_file.endswith('descriptors_ms_coco_gpt4.0_cluster_a_photo_of4.json')
    assert dict(model.train_cfg) == dict(lvc_start_iter=30000, seg_affinity_start_iter=None,
                                         affinity_radius=8, affinity_weight=0.1,
                                         box_threshold=0.88, ignore_index=255)
    assert dict(model.segmenter_cfg) == dict(size=320, scales=(1.0,), flip=False,
                                             predict_from='segmenter')
    assert model.excel_background_words == OFFICIAL_COCO_BACKGROUND
    assert model.prompt_names['snowboard'] == 'sknowboard'  # the repository's spelling
    assert cfg.val_dataloader.dataset.indices == 5000 and '48.142' in \
        cfg.published_metrics_unverified


def test_coco_texts_are_the_official_lists() -> None:
    from ovperception.datasets import load_classnames
    from ovperception.models.segmentation.excel import (COCO_BACKGROUND_WORDS,
                                                        COCO_PROMPT_NAMES, VOC_BACKGROUND_WORDS)
    model = _config(COCO_TRAIN).model
    assert tuple(model.excel_background_words) == COCO_BACKGROUND_WORDS
    assert dict(model.prompt_names) == COCO_PROMPT_NAMES
    assert set(VOC_BACKGROUND_WORDS) - set(COCO_BACKGROUND_WORDS) == {'keyboard', 'sign'}
    names = load_classnames('excel/coco81')
    assert len(names) == 81 and names[0] == 'background' and names[-1] == 'toothbrush'
    assert set(COCO_PROMPT_NAMES) <= set(names)
    assert load_classnames('coco_object')[1].split(';')[0] == names[1] == 'person'


def test_coco_msc_config_follows_infer_seg_coco() -> None:
    cfg = _config(COCO_MSC)
    segmenter_cfg = dict(cfg.model.segmenter_cfg)
    # infer_seg_coco.sh: crf_post true; crf_proc's DenseCRF settings
    assert dict(segmenter_cfg.pop('crf')) == dict(type='DenseCRF', iter_max=10, pos_xy_std=1,
                                                  pos_w=3, bi_xy_std=67, bi_rgb_std=3, bi_w=4)
    assert segmenter_cfg == dict(size=320, scales=(0.7, 1.0, 1.2, 1.5), flip=True,
                                 base_flip=True, merge_ratio=0.2, predict_from='segmenter')
    assert cfg.published_metrics['mIoU'] == 50.3
    assert 'README' in cfg.published_metrics.source and 'CRF' in cfg.published_metrics.source
    assert cfg.test_dataloader.dataset.get('indices') is None  # all of val2014
    assert cfg.test_dataloader.dataset.data_prefix.img_path.endswith('val2014')
    assert cfg.train_dataloader is None and cfg.model.head_classes == 'excel/coco81'


def test_coco_train_pipeline_crops_320_with_full_image_tags(tmp_path) -> None:
    """Every image, a grayscale JPEG too (official robust_read_image: 3 equal channels)."""
    from tests.coco2014_layout import COCO_TRAIN_NUMBERS, write_coco2014_layout
    coco = write_coco2014_layout(str(tmp_path), size=(40, 56))
    dataset = _dataset(_config(COCO_TRAIN).train_dataloader, coco)
    assert len(dataset) == len(COCO_TRAIN_NUMBERS)  # the image without a mask is left out
    np.random.seed(0)
    for index in range(len(dataset)):
        packed = dataset[index]
        sample = packed['data_samples']
        assert tuple(packed['inputs'].shape) == (3, 320, 320)
        full = load_label_map(sample.seg_map_path)
        assert sample.image_tags == sorted(set(np.unique(full).tolist()) - {0, 255})
        assert len(sample.image_tags) == 2 and sample.classnames[80] == 'toothbrush'
        black = (packed['inputs'] == 0).all(dim=0)
        assert (sample.gt_sem_seg.data[0][black] == 255).all()


def test_coco_val_loaders_keep_full_size_and_take_the_first_images(tmp_path) -> None:
    from tests.coco2014_layout import COCO_VAL_NUMBERS, coco_image_name, write_coco2014_layout
    coco = write_coco2014_layout(str(tmp_path), size=(40, 56))
    cfg = _config(COCO_TRAIN)
    test = _dataset(_config(COCO_MSC).test_dataloader, coco)
    assert len(test) == len(COCO_VAL_NUMBERS)
    packed = test[0]
    assert tuple(packed['inputs'].shape) == (3, 40, 56)
    assert tuple(packed['data_samples'].gt_sem_seg.data.shape) == (1, 40, 56)
    loader = copy.deepcopy(cfg.val_dataloader)
    loader['dataset']['indices'] = 1  # val_part: the first 5,000 of the sorted list
    first = _dataset(loader, coco)
    assert len(first) == 1 and os.path.basename(first.get_data_info(0)['img_path']) \
        == coco_image_name('val', min(COCO_VAL_NUMBERS)) + '.jpg'


def _by_registry_name(value: object) -> object:
    """A config value with every class ``type`` replaced by its registry name (dumpable)."""
    if isinstance(value, dict):
        return {k: (v.__name__ if k == 'type' and isinstance(v, type) else _by_registry_name(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_by_registry_name(v) for v in value)
    return value


@pytest.mark.slow
def test_coco_train_config_trains_two_iterations_with_a_tiny_model(tmp_path) -> None:
    """tools/train.py on the COCO config (dataset, pipeline, 81 classes, COCO texts, no
    segmenter affinity), the tiny tower of seg_tiny_excel_train.py in place of ViT-B/16."""
    from tests.coco2014_layout import write_coco2014_layout
    from tests.scripts import train_tool
    coco = write_coco2014_layout(str(tmp_path), size=(40, 56))
    cfg = _config(COCO_TRAIN)
    tiny = _by_registry_name(_config('tiny/seg_tiny_excel_train.py').model.to_dict())
    cfg.model.update(backbone=tiny['backbone'], descriptions_file=None, input_size=64,
                     seg_head=dict(tiny['seg_head'], num_classes=81),
                     train_cfg=dict(cfg.model.train_cfg, lvc_start_iter=1, affinity_radius=2))
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = coco
    cfg.train_dataloader.dataset.pipeline[-2].crop_size = 64
    cfg.train_cfg.update(max_iters=2, val_interval=10)
    cfg.param_scheduler[0].update(end=2, max_iters=2, warmup_iters=1)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    path = str(tmp_path / 'coco_tiny.py')
    cfg.dump(path)
    runner = train_tool.main([path, '--work-dir', str(tmp_path / 'work')])
    assert runner.iter == 2 and int(runner.model.train_iter) == 2
    assert runner.model.seg_head.num_classes == 81 and len(runner.model.head_classes) == 81
    assert runner.model.train_cfg['seg_affinity_start_iter'] is None
    losses = runner.message_hub.get_scalar('train/loss_seg').data[0]
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert os.path.isfile(tmp_path / 'work' / 'iter_2.pth')
