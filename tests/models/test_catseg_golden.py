"""CAT-Seg against the official code (tests/fixtures/golden/catseg/NOTE.md): a tiny official
model's state dict converts and loads strictly, and our model reproduces its text
embeddings, dense CLIP features, intermediate guidance tokens, cost volume, aggregated
logits, sliding-window and whole-image probabilities and training loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models.catseg import CATSeg, cost_volume
from ovperception.models.catseg.clip_features import catseg_image_features
from ovperception.models.catseg.convert import convert_catseg, is_catseg_checkpoint
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.structures import OVDataSample
from tests.models.golden import load_into_config_on_meta, official_layout

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / 'tests' / 'fixtures' / 'golden' / 'catseg'
#: the official run's classes ('tree, trees' there: the first name is used)
CLASSNAMES = ['cat', 'dog', 'tree; trees', 'sky', 'road', 'grass', 'person', 'car', 'wall',
              'bus', 'bird']
TINY_CLIP = dict(embed_dim=32, quick_gelu=True,
                 vision_cfg=dict(image_size=192, patch_size=8, width=64, layers=3,
                                 head_width=64),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))


def tiny_model(**test_cfg) -> CATSeg:
    """The golden run's architecture (tiny_weights.npz) as our config."""
    return CATSeg(
        backbone=dict(type='ovperception.OpenCLIPBackbone', model_name='ViT-B-16',
                      pretrained=None, model_kwargs=TINY_CLIP),
        aggregator=dict(text_guidance_proj_dim=16, appearance_guidance_proj_dim=16,
                        decoder_dims=(32, 16), decoder_guidance_proj_dims=(16, 16),
                        num_layers=2, num_heads=2, hidden_dim=32, pooling_size=(2, 2),
                        feature_resolution=(24, 24), window_size=12, pad_len=8),
        guidance_layers=(0, 1), decoder_guidance_dims=(32, 16), clip_resolution=192,
        test_cfg=dict(dict(mode='slide', kernel=192, overlap=0.333, out_size=(320, 320)),
                      **test_cfg))


def official_state() -> dict[str, torch.Tensor]:
    stored = np.load(GOLDEN / 'tiny_weights.npz')
    state = {k: torch.from_numpy(stored[k]) for k in stored.files
             if not k.startswith('token_')}
    embedding = torch.zeros(49408, 32)
    embedding[torch.from_numpy(stored['token_rows'])] = torch.from_numpy(
        stored['token_embedding_rows'])
    state['sem_seg_head.predictor.clip_model.token_embedding.weight'] = embedding
    return state


@pytest.fixture(scope='module')
def golden():
    return np.load(GOLDEN / 'tiny_outputs.npz')


@pytest.fixture(scope='module')
def model():
    model = tiny_model()
    state = official_state()
    assert is_catseg_checkpoint({'model': state})
    model.load_state_dict(convert_catseg({'model': state}), strict=True)
    return model.eval()


def preprocess(model: CATSeg, image: np.ndarray, ori: tuple[int, int]):
    sample = OVDataSample(metainfo=dict(img_shape=image.shape[1:], ori_shape=ori,
                                        classnames=CLASSNAMES))
    data = model.data_preprocessor(dict(inputs=[torch.from_numpy(image)],
                                        data_samples=[sample]), False)
    return data['inputs'], data['data_samples']


def test_features_cost_volume_and_logits_match_the_official_code(model, golden):
    inputs, _ = preprocess(model, golden['image'], (60, 80))
    with torch.no_grad():
        text = model.text_embeddings(CLASSNAMES)
        view = torch.nn.functional.interpolate(inputs[:, :, :150, :200], size=(192, 192),
                                               mode='bilinear', align_corners=False)
        dense, (mid, late) = catseg_image_features(model.backbone, view, (0, 1))
        cost = cost_volume(dense, text[None, :, None])
        logits = model.aggregator(dense, text[None, :, None],
                                  [dense, model.upsample1(mid), model.upsample2(late)])
    np.testing.assert_allclose(text.numpy(), golden['text'], atol=1e-5)
    np.testing.assert_allclose(dense.flatten(2).transpose(1, 2).numpy(), golden['dense'],
                               atol=1e-4)
    np.testing.assert_allclose(mid.flatten(2).transpose(1, 2).numpy(), golden['mid'][:, 1:],
                               atol=1e-4)
    np.testing.assert_allclose(late.flatten(2).transpose(1, 2).numpy(), golden['late'][:, 1:],
                               atol=1e-4)
    np.testing.assert_allclose(cost.numpy(), golden['cost'], atol=1e-5)
    # 11 classes > pad_len 8: the 3 of lowest peak similarity are -100, as released
    assert int((logits == -100).all(-1).all(-1).sum()) == 3
    np.testing.assert_allclose(logits.numpy(), golden['logits'], atol=1e-4)


@pytest.mark.parametrize('mode', ['slide', 'whole'])
def test_final_probabilities_match_the_official_inference(mode, golden):
    model = tiny_model(mode=mode, size_divisibility=192)
    model.load_state_dict(convert_catseg(official_state()), strict=True)
    model.eval()
    inputs, samples = preprocess(model, golden['image'], (60, 80))
    with torch.no_grad():
        out = model.predict(inputs, samples)[0]
    expected = golden[f'{mode}_probs']
    np.testing.assert_allclose(out.seg_logits.data.numpy(), expected, atol=1e-4)
    assert torch.equal(out.pred_sem_seg.data[0], torch.from_numpy(expected.argmax(0)))


def test_training_loss_matches_the_official_loss(golden):
    model = tiny_model()
    model.load_state_dict(convert_catseg(official_state()), strict=True)
    model.train()
    samples = [OVDataSample(metainfo=dict(img_shape=(192, 192), classnames=CLASSNAMES))
               for _ in range(2)]
    for sample, labels in zip(samples, golden['train_labels']):
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(labels.astype(np.int64))[None])
    data = model.data_preprocessor(dict(inputs=list(torch.from_numpy(golden['train_images'])),
                                        data_samples=samples), True)
    loss = model.loss(data['inputs'], data['data_samples'])['loss_sem_seg']
    assert loss.item() == pytest.approx(float(golden['train_loss']), abs=1e-5)
    loss.backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None}
    assert 'backbone.model.visual.transformer.resblocks.0.attn.q_proj_weight' in trained
    assert 'backbone.model.transformer.resblocks.1.attn.v_proj_weight' in trained
    assert not any(n.endswith(('k_proj_weight', 'in_proj_bias', 'positional_embedding'))
                   for n in trained)


@pytest.mark.parametrize('size', ['vitb', 'vitl'])
def test_released_layouts_convert_and_load_strictly(size, monkeypatch):
    """Every key and shape of the released ViT-B / ViT-L models (official constructors,
    official_keys_*.json.gz) loads strictly into the model of our config."""
    official = official_layout('catseg', size)
    assert is_catseg_checkpoint({'model': official})
    converted = convert_catseg({'model': official})
    load_into_config_on_meta(str(ROOT / 'configs' / '_base_' / 'models' / f'catseg_{size}.py'),
                             converted, monkeypatch)
    # dropped: 4 input-statistics buffers and the 2 shifted-window masks
    assert len(converted) == len(official) - 6
    with pytest.raises(CheckpointMismatchError, match='no counterpart'):
        convert_catseg(dict(official, **{'sem_seg_head.extra.weight': torch.zeros(1)}))


def test_a_release_converts_with_the_tool_and_loads_with_weights(tmp_path):
    """A detectron2 ``model_final.pth`` in the official layout: ``tools/convert_checkpoint.py
    catseg`` writes the same state dict that ``--weights`` converts on load."""
    from ovperception.models.checkpoint import load_weights
    from tests.scripts import load_script
    state = official_state()
    release = tmp_path / 'model_final.pth'
    torch.save({'model': state, 'iteration': 80000}, release)
    tool = load_script('tools/convert_checkpoint.py')
    assert tool.main(['catseg', str(release), str(tmp_path / 'ours.pth')]) == 0
    written = torch.load(tmp_path / 'ours.pth', weights_only=True)['state_dict']
    assert written.keys() == convert_catseg(state).keys()
    model = load_weights(tiny_model(), str(release))
    assert torch.equal(model.aggregator.conv1.weight,
                       state['sem_seg_head.predictor.transformer.conv1.weight'])
    with pytest.raises(ValueError, match='not a catseg checkpoint'):
        tool.main(['catseg', str(tmp_path / 'ours.pth'), str(tmp_path / 'again.pth')])
