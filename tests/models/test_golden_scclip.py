"""SC-CLIP reproduces the official code (SuleBai/SC-CLIP) on seeded tiny weights.

Fixture: ``tests/fixtures/golden/scclip`` (how it was made: its NOTE.md). Two towers: ``deep``
(12 blocks, the repository's default layer indices) and ``shallow`` (4 blocks, indices given
explicitly, whose labels vary more on random weights). Each on a 336 x 448 image and a
250 x 333 one (sides not multiples of 16), VOC21 settings, slide 224 / 112: labels agree on
>= 99.9 % of the pixels, pre-softmax logits within LOGIT_ATOL at 128 sampled pixels.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from ovperception.models.clip.classnames import load_classnames
from ovperception.registry import MODELS
from tests.golden_inputs import OFFICIAL_MEAN, OFFICIAL_STD, seeded_clip_state_dict
from tests.models.golden import LABEL_AGREEMENT, load_golden, run_seeded_case, sampled_scores

LOGIT_ATOL = 1e-4  # cosine similarities, float32 on both sides
VARIANTS = {  # fixture prefix: (vision blocks, our backbone arguments)
    'deep': (12, dict()),
    'shallow': (4, dict(pre_adjust_layer=2, post_adjust_layer=0, fusion_layers=(0, 3))),
}


def clip_kwargs(layers: int) -> dict:
    return dict(embed_dim=32, quick_gelu=True,
                vision_cfg=dict(image_size=224, patch_size=16, width=64, layers=layers,
                                head_width=64),
                text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=1, layers=2))


@functools.lru_cache(maxsize=None)
def golden() -> dict[str, np.ndarray]:
    return load_golden('scclip', 'outputs.npz')


def build(variant: str, **backbone_overrides):
    from mmengine.registry import init_default_scope
    init_default_scope('ovperception')
    layers, options = VARIANTS[variant]
    clip = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                model_kwargs=clip_kwargs(layers), pos_embed_resize='bicubic_offset',
                grid_remainder='drop')
    model = MODELS.build(dict(
        type='OVModel',
        backbone=dict(type='SCCLIPBackbone', clip=clip, **dict(options, **backbone_overrides)),
        template_set='imagenet80',
        data_preprocessor=dict(type='OVDataPreprocessor', mean=OFFICIAL_MEAN, std=OFFICIAL_STD),
        head=dict(type='DenseSimilarityHead', background_index=0, return_logits=True,
                  logit_scale=50.0, prob_threshold=0.15, area_threshold=0.1),
        test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=4))).eval()
    tower = model.backbone.clip.model
    shapes = [(name, tuple(value.shape)) for name, value in tower.state_dict().items()]
    tower.load_state_dict(seeded_clip_state_dict(shapes, seed=0), strict=True)
    return model


@functools.lru_cache(maxsize=None)
def built(variant: str):
    """The model of a variant, built once (inference only; tests restore what they change)."""
    return build(variant)


@pytest.mark.parametrize('variant', sorted(VARIANTS))
@pytest.mark.parametrize('case', ['slide', 'slide_remainder'])
def test_scclip_matches_the_official_code(variant, case, monkeypatch):
    model = built(variant)
    expected, scores, labels = run_seeded_case(model, golden(), f'{variant}.{case}',
                                               load_classnames('sclip/voc21'), monkeypatch)
    ours = sampled_scores(scores, expected['pixels'])
    assert np.abs(ours - expected['logits']).max() <= LOGIT_ATOL
    assert labels.shape == expected['labels'].shape
    agreement = float((labels.numpy() == expected['labels']).mean())
    assert agreement >= LABEL_AGREEMENT, agreement


def test_each_calibration_step_matters(monkeypatch):
    """Dropping the anomaly repair (no outliers) or the class residual moves the logits beyond
    the tolerance, so the parity test above checks both."""
    import ovperception.models.segmentation.scclip as scclip
    model = built('shallow')
    for change in ('no_repair', 'no_cls'):
        if change == 'no_repair':
            monkeypatch.setattr(scclip, 'repair_anomalies', lambda maps, anomalies: maps)
        else:
            monkeypatch.setattr(model.backbone, 'cls_residual', 0.0)
        expected, scores, _ = run_seeded_case(model, golden(), 'shallow.slide',
                                              load_classnames('sclip/voc21'), monkeypatch)
        assert np.abs(sampled_scores(scores, expected['pixels']) - expected['logits']).max() \
            > 10 * LOGIT_ATOL
        monkeypatch.undo()


def test_batched_windows_give_the_per_window_result():
    """Every statistic is per window: a batch of two windows equals two single runs."""
    model = built('shallow')
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        both = model.backbone.dense_features(images)
        single = torch.cat([model.backbone.dense_features(images[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(both, single, atol=1e-5, rtol=0)


def test_bad_layer_indices_fail_at_construction():
    with pytest.raises(ValueError, match='pre_adjust_layer'):
        build('shallow', pre_adjust_layer=3)
    with pytest.raises(ValueError, match='fusion_layers'):
        build('shallow', fusion_layers=(2, 5))
