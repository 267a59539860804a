"""AnomalyCLIP against its official code (tests/fixtures/golden/anomalyclip/NOTE.md): DPAM maps,
image scores, text embeddings and the training loss on tiny seeded weights, with the four-layer
set of test.py's default and with the released layer set (the last block only); the released
prompt-checkpoint layout converts and loads strictly."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from ovperception.models.anomaly import AnomalyCLIPHead, OVAnomalyModel
from ovperception.models.anomaly.convert import convert_anomalyclip, is_anomalyclip_checkpoint
from ovperception.models.checkpoint import load_weights
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter
from ovperception.structures import OVDataSample

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'anomalyclip'
TOL = dict(rtol=0, atol=2e-5)  # float32 CPU, different kernels / batch-first layout


def seeded_weights(shapes: dict[str, list[int]], seed: int) -> dict[str, torch.Tensor]:
    """The weight scheme of NOTE.md: one generator, names in sorted order, scaled normals."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name in sorted(shapes):
        shape = shapes[name]
        t = torch.randn(shape, generator=generator)
        last = name.split('.')[-2] if '.' in name else ''
        if name == 'logit_scale':
            t = torch.tensor(math.log(1 / 0.07))
        elif name.endswith('.weight') and last.startswith('ln'):
            t = 1 + 0.1 * t
        elif name.endswith('bias'):
            t = 0.02 * t
        elif name in ('visual.proj', 'text_projection'):
            t = t / math.sqrt(shape[0])
        elif len(shape) >= 2:
            t = t / math.sqrt(int(np.prod(shape[1:])))
        else:
            t = t / math.sqrt(shape[0])
        out[name] = t.float()
    return out


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN / 'tiny_dpam.npz'))


@pytest.fixture(scope='module')
def tiny(golden):
    spec = json.loads((GOLDEN / 'tiny_clip_shapes.json').read_text())
    weights = seeded_weights(spec['shapes'], spec['seed'])
    checksum = float(sum(v.double().sum() for v in weights.values()))
    assert checksum == pytest.approx(float(golden['weights_checksum']), abs=1e-6), \
        'the seeded weights differ from the ones the fixture was made with'
    backbone = OpenCLIPBackbone('ViT-B-16', None, pos_embed_resize='bilinear', model_kwargs=dict(
        embed_dim=64, quick_gelu=True,
        vision_cfg=dict(image_size=56, patch_size=14, width=128, layers=4, head_width=64),
        text_cfg=dict(context_length=77, vocab_size=49408, width=128, heads=2, layers=4)))
    backbone.model.load_state_dict(weights, strict=True)
    head = AnomalyCLIPHead(n_ctx=12, deep_depth=4, deep_n_ctx=4, feature_layers=(0, 1, 2, 3),
                           dpam_blocks=3, text_width=128)
    official = {'prompt_learner': {
        'ctx_pos': torch.from_numpy(golden['ctx_pos']),
        'ctx_neg': torch.from_numpy(golden['ctx_neg']),
        **{f'compound_prompts_text.{i}': torch.from_numpy(p)
           for i, p in enumerate(golden['compound_prompts_text'])}}}
    state = convert_anomalyclip(official)
    head.load_state_dict({k[len('head.'):]: v for k, v in state.items()}, strict=True)
    return backbone, head


def test_text_embeddings_match_the_official_prompt_learner(tiny, golden):
    backbone, head = tiny
    with torch.no_grad():
        text = head.text_embeddings(backbone)
    torch.testing.assert_close(text, torch.from_numpy(golden['text_features']), **TOL)


#: official features_list -> (fixture, our 0-based feature_layers) on the tiny 4-block model
LAYER_SETS = {'four_layers_test_py_default': ('tiny_dpam.npz', (0, 1, 2, 3)),
              'released_last_layer': ('tiny_last_layer.npz', (3,))}


@pytest.fixture(scope='module', params=list(LAYER_SETS))
def layer_set(request, tiny, golden):
    """(head with that layer set, the official outputs for it); the prompts are the same."""
    name, layers = LAYER_SETS[request.param]
    want = golden if name == 'tiny_dpam.npz' else dict(np.load(GOLDEN / name))
    assert len(want['layer_probs']) == len(layers)
    head = AnomalyCLIPHead(n_ctx=12, deep_depth=4, deep_n_ctx=4, feature_layers=layers,
                           dpam_blocks=3, text_width=128)
    head.load_state_dict(tiny[1].state_dict(), strict=True)
    return head, want


def test_dpam_maps_and_image_scores_match_the_official_model(tiny, golden, layer_set):
    backbone, (head, want) = tiny[0], layer_set
    images = torch.from_numpy(golden['images'])  # 84 px: 6x6 grid, pos. embeddings from 4x4
    features = head.encode(backbone, images)
    with torch.no_grad():
        text = head.text_embeddings(backbone)
        layers = torch.stack(head.layer_probabilities(features, text))
        maps, scores = head.score(features, text)
    torch.testing.assert_close(features.global_embedding,
                               torch.from_numpy(want['image_features']), **TOL)
    torch.testing.assert_close(scores, torch.from_numpy(want['image_scores']), **TOL)
    torch.testing.assert_close(layers, torch.from_numpy(want['layer_probs']), **TOL)
    full = F.interpolate(maps[:, None], size=(84, 84), mode='bilinear', align_corners=False)[:, 0]
    n_layers = len(head.feature_layers)  # official: sum over layers; ours: mean
    torch.testing.assert_close(full * n_layers, torch.from_numpy(want['anomaly_map']), **TOL)


def test_the_model_with_sigma_4_gives_the_official_smoothed_map(tiny, golden, layer_set):
    backbone, (head, want) = tiny[0], layer_set
    model = OVAnomalyModel(backbone, head, map_smoothing_sigma=4.0)
    samples = [OVDataSample(metainfo=dict(classnames=['object'], img_shape=(84, 84),
                                          ori_shape=(84, 84))) for _ in range(2)]
    out = model.decode(model.encode_images(torch.from_numpy(golden['images']), samples), samples)
    ours = torch.stack([s.pred_anomaly_map.data[0] for s in out]) * len(head.feature_layers)
    torch.testing.assert_close(ours, torch.from_numpy(want['anomaly_map_sigma4']).float(),
                               **TOL)


def _local_and_image_loss(backbone, head, golden) -> tuple[float, float]:
    samples = [OVDataSample(gt_anomaly_map=PixelData(data=torch.from_numpy(m)[None]),
                            metainfo=dict(classnames=['object']))
               for m in golden['mask']]
    losses = head.loss(backbone, torch.from_numpy(golden['images']), samples)
    return (float((losses['loss_focal'] + losses['loss_dice']).detach()),
            float(losses['loss_image'].detach()))


def test_training_loss_matches_the_official_lambda_4_loss(tiny, golden, layer_set):
    (head, want) = layer_set
    local, image = _local_and_image_loss(tiny[0], head, golden)
    assert local == pytest.approx(float(want['local_loss']), rel=1e-5)
    assert image == pytest.approx(float(want['image_loss']), rel=1e-5)


def test_the_four_layer_option_is_another_recipe():
    """The official losses on identical weights and batch: four layers ~4.3x the released
    last layer (docs/fidelity.md); the image score does not depend on the layer set."""
    four = np.load(GOLDEN / 'tiny_dpam.npz')
    last = np.load(GOLDEN / 'tiny_last_layer.npz')
    assert float(four['local_loss']) / float(last['local_loss']) == pytest.approx(4.28, abs=0.01)
    np.testing.assert_allclose(four['image_scores'], last['image_scores'], atol=2e-6)
    assert last['features_list'].tolist() == [4]


def _official_layout_state() -> dict:
    layout = json.loads((GOLDEN / 'prompt_learner_layout.json').read_text())
    generator = torch.Generator().manual_seed(0)
    inner = {name: torch.randn(shape, generator=generator)
             for name, shape in layout['state_dict'].items()}
    return {layout['checkpoint_key']: inner}


def test_a_released_layout_checkpoint_loads_strictly_with_weights(tmp_path):
    official = _official_layout_state()
    assert is_anomalyclip_checkpoint(official) and find_converter(official).name == 'anomalyclip'
    path = tmp_path / 'epoch_15.pth'
    torch.save(official, path)
    backbone = OpenCLIPBackbone('ViT-B-16', None, model_kwargs=dict(
        embed_dim=32, vision_cfg=dict(image_size=28, patch_size=14, width=64, layers=2,
                                      head_width=32),
        text_cfg=dict(context_length=77, vocab_size=49408, width=768, heads=12, layers=9,
                      mlp_ratio=1)))
    model = OVAnomalyModel(backbone, AnomalyCLIPHead(feature_layers=(0, 1), dpam_blocks=1))
    load_weights(model, str(path))
    inner = official['prompt_learner']
    assert torch.equal(model.head.normal_ctx, inner['ctx_pos'][0, 0])
    assert torch.equal(model.head.anomalous_ctx, inner['ctx_neg'][0, 0])
    assert torch.equal(model.head.deep_prompts[7], inner['compound_prompts_text.7'])
    sample = OVDataSample(metainfo=dict(classnames=['object'], img_shape=(28, 28)))
    out = model.predict(torch.randn(1, 3, 28, 28), [sample])[0]
    assert out.pred_anomaly_map.data.shape == (1, 28, 28) and 0 <= float(out.pred_score) <= 1


def test_unknown_or_misshapen_official_keys_are_named():
    official = _official_layout_state()
    official['prompt_learner']['surprise'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='surprise'):
        convert_anomalyclip(official)
    official = _official_layout_state()
    official['prompt_learner']['ctx_pos'] = torch.zeros(2, 1, 12, 768)
    with pytest.raises(CheckpointMismatchError, match='ctx_pos'):
        convert_anomalyclip(official)


def test_convert_checkpoint_tool_converts_a_released_layout_file(tmp_path):
    from tests.scripts import load_script
    src, dst = tmp_path / 'epoch_15.pth', tmp_path / 'out' / 'anomalyclip_prompts.pth'
    official = _official_layout_state()
    torch.save(official, src)
    assert load_script('tools/convert_checkpoint.py').main(['anomalyclip', str(src), str(dst)]) == 0
    state = torch.load(dst, weights_only=True)['state_dict']
    assert set(state) == {'head.normal_ctx', 'head.anomalous_ctx', 'head.deep_prompts'}
    assert state['head.deep_prompts'].shape == (8, 4, 768)
