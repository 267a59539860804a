"""ResCLIP reproduces the official code (yvhangyang/ResCLIP) on seeded tiny weights.

Fixture: ``tests/fixtures/golden/resclip`` (NOTE.md there). A 12-block tower (RCS over blocks
5-8 as released), the plug-in on each dense mode it extends: NACLIP (the paper's main results;
VOC21 settings on a whole 250 x 333 image -- sides not multiples of 16, a non-square grid --,
Context60 settings on 224-windows, and a low feedback threshold so that windows hold several
names), SCLIP (residual + FFN kept) and ClearCLIP. Labels agree on >= 99.9 % of the pixels,
pre-softmax logits within LOGIT_ATOL at 128 sampled pixels.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from ovperception.models.clip.classnames import load_classnames
from ovperception.registry import MODELS
from tests.golden_inputs import OFFICIAL_MEAN, OFFICIAL_STD, seeded_clip_state_dict
from tests.models.golden import LABEL_AGREEMENT, load_golden, run_seeded_case, sampled_scores

LOGIT_ATOL = 1e-4
CLIP_KWARGS = dict(embed_dim=32, quick_gelu=True,
                   vision_cfg=dict(image_size=224, patch_size=16, width=64, layers=12,
                                   head_width=64),
                   text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=1,
                                 layers=2))
VOC21 = dict(head=dict(prob_threshold=0.1), mode='whole',
             backbone=dict(sfr_threshold=0.5, rcs_weights=(2.0, 0.3), sfr_weights=(2.2, 0.7)))
CONTEXT60 = dict(head=dict(prob_threshold=0.1), mode='slide',
                 backbone=dict(sfr_threshold=0.3, rcs_weights=(2.0, 0.3), sfr_weights=(1.8, 0.7)))
LOW = dict(CONTEXT60, backbone=dict(CONTEXT60['backbone'], sfr_threshold=0.02))
CASES = {  # fixture case: (dense mode, settings)
    'naclip.whole_remainder': ('naclip', VOC21),
    'naclip.slide': ('naclip', CONTEXT60),
    'naclip.slide_low_threshold': ('naclip', LOW),
    'sclip.slide': ('sclip', LOW),
    'clearclip.slide': ('clearclip', LOW),
}


@functools.lru_cache(maxsize=None)
def golden() -> dict[str, np.ndarray]:
    return load_golden('resclip', 'outputs.npz')


@functools.lru_cache(maxsize=None)
def weights(shapes: tuple) -> dict:
    return seeded_clip_state_dict(shapes, seed=0)


def build(dense_mode: str, settings: dict):
    from mmengine.registry import init_default_scope
    init_default_scope('ovperception')
    clip = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                model_kwargs=CLIP_KWARGS, dense_mode=dense_mode, naclip_gaussian_std=5.0,
                pos_embed_resize='bicubic_offset', grid_remainder='drop')
    model = MODELS.build(dict(
        type='OVModel',
        backbone=dict(type='ResCLIPBackbone', clip=clip, **settings['backbone']),
        template_set='imagenet80',
        data_preprocessor=dict(type='OVDataPreprocessor', mean=OFFICIAL_MEAN, std=OFFICIAL_STD),
        head=dict(type='DenseSimilarityHead', background_index=0, return_logits=True,
                  logit_scale=40.0, **settings['head']),
        test_cfg=dict(mode=settings['mode'], crop_size=224, stride=112,
                      crop_batch_size=4))).eval()
    tower = model.backbone.clip.model
    shapes = tuple((name, tuple(value.shape)) for name, value in tower.state_dict().items())
    tower.load_state_dict(weights(shapes), strict=True)
    return model


@pytest.mark.parametrize('case', sorted(CASES))
def test_resclip_matches_the_official_code(case, monkeypatch):
    dense_mode, settings = CASES[case]
    model = build(dense_mode, settings)
    expected, scores, labels = run_seeded_case(model, golden(), case,
                                               load_classnames('sclip/voc21'), monkeypatch)
    ours = sampled_scores(scores, expected['pixels'])
    assert np.abs(ours - expected['logits']).max() <= LOGIT_ATOL
    agreement = float((labels.numpy() == expected['labels']).mean())
    assert agreement >= LABEL_AGREEMENT, agreement


def test_features_are_made_per_vocabulary_and_kept(monkeypatch):
    """The semantic feedback reads the vocabulary: each vocabulary's features are made with
    its own names, once per image; without a vocabulary the backbone refuses."""
    import torch
    from ovperception.structures import OVDataSample
    model = build('naclip', LOW)
    seen = []
    feedback = model.backbone.feedback_attention

    def spy(images, tokens, grid, text):
        seen.append(tuple(text.vocabulary.names))
        return feedback(images, tokens, grid, text)

    monkeypatch.setattr(model.backbone, 'feedback_attention', spy)
    image = torch.randint(0, 255, (3, 224, 224), dtype=torch.uint8)
    sample = OVDataSample(metainfo=dict(classnames=['cat', 'dog']))
    batch = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]))
    encoded = model.encode_images(batch['inputs'], batch['data_samples'])
    assert encoded.features == [[]] and not seen  # nothing encoded before a vocabulary
    first = model.window_features(encoded, 0, model.encode_vocabulary(['cat', 'dog']))
    again = model.window_features(encoded, 0, model.encode_vocabulary(['cat', 'dog']))
    model.window_features(encoded, 0, model.encode_vocabulary(['sky', 'car; auto']))
    assert first is again and len(encoded.conditioned) == 2
    assert seen == [('cat', 'dog'), ('sky', 'car', 'auto')]
    with pytest.raises(ValueError, match='vocabulary'):
        model.backbone.dense_features(torch.zeros(1, 3, 224, 224))
