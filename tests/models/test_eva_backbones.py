"""DeCLIP / CLIPSelf EVA-02-CLIP backbones against their official code
(tests/fixtures/golden/{declip,clipself}/NOTE.md): converted official-layout weights load
strictly and give the official dense features, global and text embeddings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from ovperception.models.checkpoint import load_weights, read_state_dict
from ovperception.models.clip.convert import convert_clipself, convert_eva_clip
from ovperception.models.clip.dense_attn import unscaled_csa_attention
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter, get_converter
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from tests.models.eva_golden import (GOLDEN, TINY_EVA_BACKBONE, TINY_EVA_KWARGS, TINY_EVA_TIMM,
                                     read_layout, seeded_official_state, weights_checksum)
from tests.models.golden import load_golden
from tests.scripts import load_script

TOL = dict(rtol=0, atol=2e-5)
PREFIX = 'backbone.model.'


@pytest.fixture(scope='module')
def eva_backbone() -> OpenCLIPBackbone:
    """One tiny EVA-02 tower for the module (building the trunk is the slow part)."""
    return OpenCLIPBackbone('EVA02-B-16', None, dense_mode='declip',
                            model_kwargs=TINY_EVA_KWARGS, timm_kwargs=TINY_EVA_TIMM)


@pytest.fixture
def tiny_eva(eva_backbone):
    def with_mode(dense_mode: str) -> OpenCLIPBackbone:
        eva_backbone.dense_mode = dense_mode
        return eva_backbone
    yield with_mode
    eva_backbone.dense_mode = 'declip'


def load_converted(backbone: OpenCLIPBackbone, converted: dict[str, torch.Tensor]) -> None:
    backbone.model.load_state_dict({k[len(PREFIX):]: v for k, v in converted.items()},
                                   strict=True)


@pytest.fixture(scope='module')
def official_state() -> dict[str, torch.Tensor]:
    state = seeded_official_state(read_layout('declip'))
    golden = load_golden('declip', 'tiny_eva_dense.npz')
    assert weights_checksum(state) == pytest.approx(float(golden['checksum']), abs=1e-6)
    return {'epoch': torch.tensor(6), 'state_dict': state}  # as DeCLIP's main.py saves


@pytest.mark.parametrize('method,mode,key', [('declip', 'declip', 'csa'),
                                             ('declip', 'vanilla', 'vanilla'),
                                             ('clipself', 'maskclip', 'clipself')])
def test_dense_features_equal_the_official_encode_dense(official_state, tiny_eva, method, mode,
                                                       key):
    golden = load_golden(method, 'tiny_eva_dense.npz')
    backbone = tiny_eva(mode)
    load_converted(backbone, get_converter(method).convert(official_state))
    with torch.no_grad():
        for prefix, images in (('', 'images'), ('native_', 'native_images')):
            ours = backbone.dense_features(torch.from_numpy(golden[images]))
            if method == 'clipself':  # the official encode_dense normalises per location
                ours = F.normalize(ours, dim=1)
            torch.testing.assert_close(ours, torch.from_numpy(golden[f'{prefix}dense_{key}']),
                                       **TOL)


def test_global_and_text_embeddings_equal_the_official_model(official_state, tiny_eva):
    golden = load_golden('declip', 'tiny_eva_dense.npz')
    backbone = tiny_eva('declip')
    load_converted(backbone, convert_eva_clip(official_state))
    with torch.no_grad():
        image = backbone.image_embedding(torch.from_numpy(golden['native_images']))
        text = backbone.model.encode_text(torch.from_numpy(golden['tokens']))
    expected = F.normalize(torch.from_numpy(golden['image_embedding']), dim=-1)
    torch.testing.assert_close(image, expected, **TOL)
    torch.testing.assert_close(text, torch.from_numpy(golden['text_embedding']), **TOL)


@pytest.mark.parametrize('official,ours', [('EVA02-CLIP-B-16', 'EVA02-B-16'),
                                           ('EVA02-CLIP-L-14-336', 'EVA02-L-14-336')])
def test_released_layouts_map_onto_our_models_name_for_name(official, ours):
    layout = read_layout('declip', f'layout_{official}.json')
    state = {name: torch.empty(shape, device='meta') for name, shape in layout.items()}
    converted = convert_eva_clip({'state_dict': state})
    with torch.device('meta'):
        model = open_clip.create_model(ours, pretrained=None, device='meta')
    expected = {PREFIX + k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items()} == expected
    assert read_layout('clipself') == read_layout('declip')  # one layout for both releases


def test_unmatched_and_missing_keys_are_named(official_state):
    state = dict(official_state['state_dict'])
    with pytest.raises(CheckpointMismatchError, match='visual.extra_token'):
        convert_eva_clip(dict(state, **{'visual.extra_token': torch.zeros(1)}))
    partial = {k: v for k, v in state.items() if k != 'visual.blocks.1.mlp.w3.weight'}
    with pytest.raises(CheckpointMismatchError, match=r'visual\.blocks\.1\.mlp\.w3\.weight'):
        convert_eva_clip(partial)
    with pytest.raises(CheckpointMismatchError, match='not a CLIPSelf checkpoint'):
        convert_clipself({'visual.conv1.weight': torch.zeros(1)})


def test_released_files_convert_with_the_tool_and_load_through_weights(tmp_path,
                                                                       official_state):
    src, dst = tmp_path / 'declip_eva_b16.pt', tmp_path / 'converted.pth'
    torch.save(official_state, src)
    tool = load_script('tools/convert_checkpoint.py')
    assert tool.main(['declip', str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)['state_dict']
    on_load = read_state_dict(str(src))  # recognised by its keys: the eva_clip layout
    assert find_converter(official_state).name == 'eva_clip'
    assert converted.keys() == on_load.keys()
    assert all(torch.equal(converted[k], on_load[k]) for k in converted)
    # the release as the backbone's `pretrained` file (as the configs name it), then
    # --weights with the release itself or with the converted file
    model = MODELS.build(dict(
        type='OVModel', backbone=dict(TINY_EVA_BACKBONE, pretrained=str(src),
                                      grid_remainder='centre_pad'),
        head=dict(type='DenseSimilarityHead'), template_set='single',
        test_cfg=dict(mode='slide', crop_size=64, stride=32)))
    golden = load_golden('declip', 'tiny_eva_dense.npz')
    for path in (None, src, dst):
        if path is not None:
            with torch.no_grad():
                model.backbone.model.visual.trunk.pos_embed.zero_()
            load_weights(model, str(path))
        with torch.no_grad():
            ours = model.backbone.dense_features(torch.from_numpy(golden['images']))
        torch.testing.assert_close(ours, torch.from_numpy(golden['dense_csa']), **TOL)
    # the DeCLIP configs' protocol end to end: slide windows, centred padding of odd sides
    sample = OVDataSample(metainfo=dict(classnames=['cat', 'dog', 'grass']))
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 256, (3, 90, 100),
                                                              dtype=torch.uint8)],
                                        data_samples=[sample]))
    with torch.no_grad():
        predicted = model.predict(data['inputs'], data['data_samples'])[0]
    assert predicted.pred_sem_seg.data.shape == (1, 90, 100)


def test_clipself_openai_vit_release_is_prefixed_for_a_vit_backbone():
    from tests.tiny import TINY_CLIP_KWARGS
    backbone = OpenCLIPBackbone('ViT-B-16', None, dense_mode='maskclip',
                                model_kwargs=TINY_CLIP_KWARGS)
    state = {k: torch.randn_like(v) for k, v in backbone.model.state_dict().items()}
    converted = get_converter('clipself').convert({'state_dict': state})
    load_converted(backbone, converted)
    assert find_converter({'state_dict': state}) is None  # plain open_clip files stay as they are


def test_eva_tower_takes_any_grid_and_every_vit_mode(tiny_eva):
    backbone = tiny_eva('declip')
    images = torch.randn(1, 3, 80, 112)  # 5x7 grid: RoPE and position embeddings follow
    with torch.no_grad():
        assert backbone.dense_features(images).shape == (1, 32, 5, 7)
        assert backbone.image_embedding(images).shape == (1, 32)
        for mode in ('sclip', 'clearclip', 'naclip', 'maskclip', 'vanilla'):
            backbone.dense_mode = mode
            assert torch.isfinite(backbone.dense_features(images)).all()
    assert backbone.patch_size == 16 and backbone.grid_placement == (16, False)


def test_unscaled_csa_is_the_sum_of_two_self_similarity_softmaxes():
    q, k, v = (torch.randn(1, 2, 5, 4) for _ in range(3))
    expected = ((q @ q.transpose(-2, -1)).softmax(-1) + (k @ k.transpose(-2, -1)).softmax(-1)) @ v
    torch.testing.assert_close(unscaled_csa_attention(q, k, v), expected)
    assert np.isclose(float(unscaled_csa_attention(q, k, torch.ones_like(v)).mean()), 2.0)
    assert GOLDEN.is_dir()


@pytest.mark.parametrize('dataset', ['voc21', 'voc20', 'context60', 'context59', 'coco_object',
                                     'coco_stuff164k', 'cityscapes', 'ade20k'])
def test_declip_segmentation_configs_follow_the_official_protocol(dataset):
    from mmengine.config import Config
    root = Path(__file__).parents[2] / 'configs' / 'segmentation'
    path, = root.glob(f'declip_eva02_b16_{dataset}_*.py')
    cfg = Config.fromfile(str(path))
    backbone = cfg.model.backbone
    assert (backbone.model_name, backbone.dense_mode, backbone.grid_remainder) == \
        ('EVA02-B-16', 'declip', 'centre_pad')
    assert (cfg.model.test_cfg.crop_size, cfg.model.test_cfg.stride) == (336, 112)
    assert cfg.model.template_set == 'imagenet80' and 'published_metrics' not in cfg
    expected = {'voc21': (80.0, 0.4), 'context60': (40.0, 0.15), 'coco_object': (40.0, 0.2)}
    head = cfg.model.head
    assert (head.logit_scale, head.prob_threshold) == expected.get(dataset, (40.0, 0.0))


def test_clipself_openai_vit_dense_features_equal_the_official_encode_dense():
    from tests.tiny import TINY_CLIP_KWARGS
    layout = read_layout('clipself', 'layout_openai_tiny.json')
    golden = load_golden('clipself', 'tiny_openai_dense.npz')
    state = seeded_official_state(layout)
    assert weights_checksum(state) == pytest.approx(float(golden['checksum']), abs=1e-6)
    backbone = OpenCLIPBackbone('ViT-B-16', None, dense_mode='maskclip',
                                model_kwargs=dict(TINY_CLIP_KWARGS, quick_gelu=True))
    load_converted(backbone, convert_clipself({'state_dict': state}))
    with torch.no_grad():
        for prefix, images in (('', 'images'), ('native_', 'native_images')):
            ours = F.normalize(backbone.dense_features(torch.from_numpy(golden[images])), dim=1)
            torch.testing.assert_close(
                ours, torch.from_numpy(golden[f'{prefix}dense_clipself']), **TOL)
