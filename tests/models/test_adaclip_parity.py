"""AdaCLIP against its official code (tests/fixtures/golden/adaclip/NOTE.md): dynamic prompts,
per-image text embeddings, maps, image scores with and without hybrid semantic fusion, and the
training loss on a tiny seeded CLIP; the released checkpoint layout converts and loads
strictly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models.anomaly import AdaCLIPHead, OVAnomalyModel
from ovperception.models.anomaly.adaclip_convert import convert_adaclip, is_adaclip_checkpoint
from ovperception.models.checkpoint import load_weights
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter
from ovperception.structures import OVDataSample
from tests.models.test_anomalyclip_parity import seeded_weights

pytest.importorskip('sklearn', reason="AdaCLIP's hybrid semantic fusion needs scikit-learn")

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'adaclip'
TOL = dict(rtol=0, atol=1e-5)  # float32 CPU (measured: 1.7e-6 on maps, 1.4e-6 on scores)
OBJECT = 'metal-nut'


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN / 'tiny_adaclip.npz'))


def official_state(golden) -> dict[str, torch.Tensor]:
    return {k[len('state/'):]: torch.from_numpy(v) for k, v in golden.items()
            if k.startswith('state/')}


def tiny_backbone() -> OpenCLIPBackbone:
    spec = json.loads((GOLDEN / 'tiny_clip_shapes.json').read_text())
    weights = seeded_weights(spec['shapes'], spec['seed'])
    backbone = OpenCLIPBackbone('ViT-B-16', None, pos_embed_resize='bicubic', model_kwargs=dict(
        embed_dim=128, quick_gelu=False,
        vision_cfg=dict(image_size=56, patch_size=14, width=128, layers=4, head_width=64),
        text_cfg=dict(context_length=77, vocab_size=49408, width=128, heads=2, layers=4)))
    backbone.model.load_state_dict(weights, strict=True)
    return backbone, weights


def tiny_head(**kwargs) -> AdaCLIPHead:
    return AdaCLIPHead(embed_dim=128, visual_width=128, text_width=128,
                       feature_layers=(0, 1, 2, 3), prompt_length=2, prompt_depth=3,
                       k_clusters=4, **kwargs)


@pytest.fixture(scope='module')
def tiny(golden):
    backbone, weights = tiny_backbone()
    checksum = float(sum(v.double().sum() for v in weights.values()))
    assert checksum == pytest.approx(float(golden['weights_checksum']), abs=1e-6), \
        'the seeded weights differ from the ones the fixture was made with'
    head = tiny_head()
    head.load_state_dict({k[len('head.'):]: v for k, v in
                          convert_adaclip(official_state(golden)).items()}, strict=True)
    return backbone, head.eval()


def test_prompts_text_and_class_embeddings_match_the_official_model(tiny, golden):
    backbone, head = tiny
    with torch.no_grad():
        features = head.encode(backbone, torch.from_numpy(golden['images']))
        texts = head.image_texts(backbone, features, OBJECT)
    torch.testing.assert_close(features.text_prompts,
                               torch.from_numpy(golden['dynamic_text_prompts']), **TOL)
    torch.testing.assert_close(features.class_embedding,
                               torch.from_numpy(golden['cls_features']), **TOL)
    # official text features are (C, 2) per image
    torch.testing.assert_close(texts, torch.from_numpy(golden['text_features']).transpose(1, 2),
                               **TOL)


def test_maps_and_image_scores_match_the_official_model(tiny, golden):
    backbone, head = tiny
    with torch.no_grad():
        features = head.encode(backbone, torch.from_numpy(golden['images']))
        maps, scores = head.score_object(backbone, features, OBJECT)
    assert maps.shape == (2, 84, 84)  # full input size, as released
    torch.testing.assert_close(maps, torch.from_numpy(golden['anomaly_map']), **TOL)
    torch.testing.assert_close(scores, torch.from_numpy(golden['image_scores']), **TOL)
    head_no_hsf = tiny_head(use_hsf=False)
    head_no_hsf.load_state_dict(head.state_dict())
    with torch.no_grad():
        _, class_token_scores = head_no_hsf.score_object(backbone, features, OBJECT)
    torch.testing.assert_close(class_token_scores,
                               torch.from_numpy(golden['image_scores_class_token']), **TOL)
    assert not torch.allclose(scores, class_token_scores, atol=1e-3)  # HSF changes the score


def test_the_model_with_sigma_4_gives_the_official_smoothed_map(tiny, golden):
    backbone, head = tiny
    model = OVAnomalyModel(backbone, head, map_smoothing_sigma=4.0)
    samples = [OVDataSample(metainfo=dict(classnames=[OBJECT], img_shape=(84, 84),
                                          ori_shape=(84, 84))) for _ in range(2)]
    with torch.no_grad():
        out = model.decode(model.encode_images(torch.from_numpy(golden['images']), samples),
                           samples)
    ours = torch.stack([s.pred_anomaly_map.data[0] for s in out])
    torch.testing.assert_close(ours, torch.from_numpy(golden['anomaly_map_sigma4']).float(),
                               **TOL)
    torch.testing.assert_close(torch.stack([s.pred_score for s in out]),
                               torch.from_numpy(golden['image_scores']), **TOL)


def test_training_loss_matches_the_official_trainer_per_image(tiny, golden):
    backbone, head = tiny
    images = torch.from_numpy(golden['images'])
    for i, expected in enumerate(golden['loss']):  # the release trains with batch size 1
        sample = OVDataSample(gt_anomaly_map=PixelData(data=torch.from_numpy(golden['mask'][i])[None]),
                              metainfo=dict(classnames=[OBJECT]))
        losses = head.loss(backbone, images[i:i + 1], [sample])
        assert float(sum(losses.values()).detach()) == pytest.approx(float(expected), rel=2e-5)


def random_released_state(seed: int = 0) -> dict[str, torch.Tensor]:
    layout = json.loads((GOLDEN / 'released_layout.json').read_text())['layout']
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=generator) * 0.02
            for name, shape in layout.items()}


def test_a_released_layout_checkpoint_loads_strictly_with_weights(tmp_path):
    official = random_released_state()
    assert is_adaclip_checkpoint(official) and find_converter(official).name == 'adaclip'
    state = convert_adaclip(official)
    assert state['head.visual_static_prompts'].shape == (4, 5, 1024)
    assert state['head.text_static_prompts'].shape == (3, 5, 768)
    head = AdaCLIPHead()  # released ViT-L/14@336 sizes
    head.load_state_dict({k[len('head.'):]: v for k, v in state.items()}, strict=True)
    assert torch.equal(head.text_static_prompts[0],
                       official['clip_model.text_prompter.static_prompts.1'])
    assert torch.equal(head.patch_projections[3].weight,
                       official['clip_model.patch_token_layer.head.3.weight'])
    # through --weights on a tiny model in the tiny fixture's layout
    tiny_official = {k[len('state/'):]: torch.from_numpy(v) for k, v in
                     np.load(GOLDEN / 'tiny_adaclip.npz').items() if k.startswith('state/')}
    path = tmp_path / 'pretrained_tiny.pth'
    torch.save(tiny_official, path)
    model = OVAnomalyModel(tiny_backbone()[0], tiny_head())
    load_weights(model, str(path))
    assert torch.equal(model.head.visual_static_prompts[1],
                       tiny_official['clip_model.visual_prompter.static_prompts.1'])


def test_unknown_keys_and_gaps_are_named():
    official = random_released_state()
    official['clip_model.surprise.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='surprise'):
        convert_adaclip(official)
    official = random_released_state()
    del official['clip_model.visual_prompter.static_prompts.1']
    with pytest.raises(CheckpointMismatchError, match='not numbered'):
        convert_adaclip(official)


def test_convert_checkpoint_tool_converts_a_released_layout_file(tmp_path):
    from tests.scripts import load_script
    src, dst = tmp_path / 'pretrained_mvtec_colondb.pth', tmp_path / 'out' / 'adaclip.pth'
    torch.save(random_released_state(), src)
    assert load_script('tools/convert_checkpoint.py').main(['adaclip', str(src), str(dst)]) == 0
    state = torch.load(dst, weights_only=True)['state_dict']
    assert len(state) == 32  # 38 official tensors: prompts stacked, text block 0's dropped
    assert {k.split('.')[1] for k in state} == {
        'visual_static_prompts', 'text_static_prompts', 'patch_projections', 'class_projection',
        'visual_prompt_generator', 'text_prompt_generator'}
