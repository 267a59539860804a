"""Talk2DINO reproduces the official code (lorebianchi98/Talk2DINO) on seeded tiny weights.

Fixture: ``tests/fixtures/golden/talk2dino`` (how it was made: its NOTE.md). A 2-block DINOv2
with 4 registers (official ``DinoVisionTransformer``, 70 px position grid, windows resized to
56 px: the offset interpolation runs), a 2-block CLIP text tower, the released projection's
layout (32 -> 48, one tanh hidden layer), 64 x 64 windows with stride 32. Variants:
``bg_clean`` (background class at threshold 0.505, attention background clean, PAMR),
``plain`` (no background class, PAMR), ``no_pamr`` (background class, no PAMR). Cases: 96 x 128
(ori 100 x 133), 75 x 95 (sides not multiples of 14 or 16) and 50 x 90 (windows shorter than
the crop, stretched to the square). Labels agree on >= 99.9 % of the pixels; the averaged
scores at ori_shape (what the official code argmaxes) within SCORE_ATOL at 128 pixels.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from ovperception.registry import MODELS
from tests.golden_inputs import seeded_clip_state_dict
from tests.models.golden import (LABEL_AGREEMENT, load_golden, load_official_dino,
                                 predict_seeded_case, prefixed)

#: Scores are sigmoids of cosines (0.47-0.54 here); float32 throughout, measured 1.1e-6.
SCORE_ATOL = 2e-6
#: Projected text (unit vectors), measured 1e-7.
TEXT_ATOL = 1e-6
CLASSNAMES = ['background', 'cat', 'dog', 'car', 'person', 'tree']
CLIP_KWARGS = dict(embed_dim=32, quick_gelu=True,
                   vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2,
                                   head_width=64),
                   text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=1,
                                 layers=2))
DINO = dict(type='DINOEncoder', arch='vit_small_patch14_reg4_dinov2', pretrained=None,
            pos_embed_resize='bicubic_offset',
            model_kwargs=dict(embed_dim=48, depth=2, num_heads=3, img_size=70))
VARIANTS = {  # name: (background class, background clean, PAMR steps, threshold)
    'bg_clean': (0, True, 10, 0.505),
    'plain': (None, False, 10, 0.4),
    'no_pamr': (0, False, 0, 0.505),
}
CASES = ['slide', 'slide_remainder', 'small']


@functools.lru_cache(maxsize=None)
def golden() -> dict[str, np.ndarray]:
    return load_golden('talk2dino', 'outputs.npz')


def official_projection() -> dict[str, torch.Tensor]:
    return {key[len('proj.'):]: torch.from_numpy(value) for key, value in golden().items()
            if key.startswith('proj.')}


def build(variant: str):
    from mmengine.registry import init_default_scope

    from ovperception.models.segmentation.talk2dino import convert_talk2dino
    init_default_scope('ovperception')
    background, clean, steps, threshold = VARIANTS[variant]
    clip = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                model_kwargs=CLIP_KWARGS)
    model = MODELS.build(dict(
        type='OVModel',
        backbone=dict(type='Talk2DINOBackbone', clip=clip, dino=DINO, resize_dim=56),
        template_set='imagenet7',
        head=dict(type='Talk2DINOHead', text_dim=32, dino_dim=48, background_clean=clean,
                  background_index=background, background_threshold=threshold,
                  pamr_steps=steps, return_logits=True),
        test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8))).eval()
    tower = model.backbone.clip.model
    shapes = [(name, tuple(value.shape)) for name, value in tower.state_dict().items()]
    tower.load_state_dict(seeded_clip_state_dict(shapes, seed=0), strict=True)
    load_official_dino(model.backbone.dino, golden())
    head = {key[len('head.'):]: value
            for key, value in convert_talk2dino(official_projection()).items()}
    model.head.load_state_dict(head, strict=True)
    return model


@functools.lru_cache(maxsize=None)
def built(variant: str):
    return build(variant)


def run_case(model, variant: str, case: str):
    arrays = prefixed(golden(), f'{variant}.{case}.')
    return arrays, predict_seeded_case(model, arrays, CLASSNAMES)


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('case', CASES)
def test_talk2dino_matches_the_official_code(variant, case):
    model = built(variant)
    expected, result = run_case(model, variant, case)
    pixels = expected['pixels']
    scores = result.seg_logits.data[:, pixels[:, 0], pixels[:, 1]].numpy()
    assert np.abs(scores - expected['scores']).max() <= SCORE_ATOL
    labels = result.pred_sem_seg.data[0].numpy()
    assert labels.shape == expected['labels'].shape
    assert float((labels == expected['labels']).mean()) >= LABEL_AGREEMENT


@pytest.mark.parametrize('variant', ['bg_clean', 'plain'])
def test_text_path_matches_the_official_projection(variant):
    """Raw 7-template mean of the CLIP outputs -> projection -> normalised, as released."""
    model = built(variant)
    names = CLASSNAMES[1:] if VARIANTS[variant][0] == 0 else CLASSNAMES
    text = model.encode_vocabulary(CLASSNAMES)
    raw = golden()['raw_text'].reshape(len(CLASSNAMES), 7, -1).mean(axis=1)
    np.testing.assert_allclose(text.embeddings.numpy(), raw, atol=1e-6)
    projected = model.head.projected_text(text)[model.head.scored_names(text)].numpy()
    assert len(projected) == len(names)
    np.testing.assert_allclose(projected, golden()[f'{variant}.text'], atol=TEXT_ATOL)
    assert model.head.projected_text(text) is model.head.projected_text(text)  # once


def test_released_layout_converts_and_reports_unmatched_keys():
    from ovperception.models.clip.weights import CheckpointMismatchError
    from ovperception.models.conversion import find_converter
    from ovperception.models.segmentation.talk2dino import convert_talk2dino
    released = {'linear_layer.weight': torch.zeros(768, 512), 'linear_layer.bias': torch.zeros(768),
                'hidden_layers.0.weight': torch.zeros(768, 768),
                'hidden_layers.0.bias': torch.zeros(768)}
    assert find_converter(released).name == 'talk2dino'
    assert sorted(convert_talk2dino(released)) == [
        'head.projection.hidden.0.bias', 'head.projection.hidden.0.weight',
        'head.projection.input_layer.bias', 'head.projection.input_layer.weight']
    legacy = {'linear_layer.weight': torch.zeros(2, 2), 'linear_layer.bias': torch.zeros(2),
              'linear_layer2.weight': torch.zeros(2, 2), 'linear_layer2.bias': torch.zeros(2)}
    assert 'head.projection.hidden.0.weight' in convert_talk2dino(legacy)
    with pytest.raises(CheckpointMismatchError, match='attn_weights'):
        convert_talk2dino({**released, 'attn_weights': torch.zeros(12)})


def test_bad_settings_fail_at_construction():
    from ovperception.models.segmentation import Talk2DINOHead
    with pytest.raises(ValueError, match='pamr'):
        Talk2DINOHead(pamr_steps=-1)
    with pytest.raises(ValueError, match='activation'):
        Talk2DINOHead(activation='gelu')
    with pytest.raises(ValueError, match='resize_dim'):
        MODELS.build(dict(type='Talk2DINOBackbone',
                          clip=dict(type='OpenCLIPBackbone', model_name='ViT-B-16',
                                    pretrained=None, model_kwargs=CLIP_KWARGS),
                          dino=DINO, resize_dim=50))


def test_released_projection_downloads_once_and_loads(local_hub, tmp_path, monkeypatch):
    """A release name is fetched (release mirror, pinned SHA-256) into the cache on first use;
    a local file in the official layout loads too; a wrong name is a one-line error."""
    import hashlib
    import io

    from ovperception.models.clip.weights import WeightsNotFoundError
    from ovperception.models.segmentation import talk2dino
    official = {key: value.clone() for key, value in official_projection().items()}
    buffer = io.BytesIO()
    torch.save(official, buffer)
    payload = buffer.getvalue()
    url = talk2dino.RELEASED_PROJECTIONS['vitb_mlp_infonce'][0]
    monkeypatch.setitem(talk2dino.RELEASED_PROJECTIONS, 'vitb_mlp_infonce',
                        (url, hashlib.sha256(payload).hexdigest()))
    local_hub.add_url(url.split('://', 1)[1], payload)
    monkeypatch.setenv('OVP_RELEASE_MIRROR', local_hub.url('files'))
    for _ in range(2):
        head = talk2dino.Talk2DINOHead(text_dim=32, dino_dim=48, weights='vitb_mlp_infonce',
                                       cache_dir=str(tmp_path / 'cache'))
        assert torch.equal(head.projection.input_layer.weight, official['linear_layer.weight'])
    assert len(local_hub.gets()) == 1  # the second head read the cached file
    local = tmp_path / 'vitb_mlp_infonce.pth'
    local.write_bytes(payload)
    head = talk2dino.Talk2DINOHead(text_dim=32, dino_dim=48, weights=str(local))
    assert torch.equal(head.projection.hidden[0].bias, official['hidden_layers.0.bias'])
    with pytest.raises(WeightsNotFoundError, match='release name'):
        talk2dino.Talk2DINOHead(weights='vitb_mlp')
    from ovperception.models.clip.weights import CheckpointMismatchError
    with pytest.raises(CheckpointMismatchError):  # a ViT-B file for a head of other sizes
        talk2dino.Talk2DINOHead(text_dim=16, dino_dim=48, weights=str(local))


def test_weights_option_replaces_the_release_download():
    """``--weights`` of a projection file: the head's release name is not downloaded."""
    from mmengine.config import Config

    from ovperception.models.checkpoint import prepare_config_for_weights
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = Config.fromfile(os.path.join(root, 'configs', 'segmentation',
                                       'talk2dino_vitb14_voc21_448.py'))
    assert cfg.model.head.weights == 'vitb_mlp_infonce'
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = f'{folder}/vitb_mlp_infonce.pth'
        torch.save({'linear_layer.weight': torch.zeros(768, 512),
                    'linear_layer.bias': torch.zeros(768),
                    'hidden_layers.0.weight': torch.zeros(768, 768),
                    'hidden_layers.0.bias': torch.zeros(768)}, path)
        state = prepare_config_for_weights(cfg.model, path)
    assert cfg.model.head.weights is None and cfg.model.backbone.dino.pretrained == 'lvd142m'
    assert sorted(state) == ['head.projection.hidden.0.bias', 'head.projection.hidden.0.weight',
                             'head.projection.input_layer.bias',
                             'head.projection.input_layer.weight']
