"""CorrCLIP reproduces the official code (zdk258/CorrCLIP, CorrCLIPv1/) on seeded tiny weights.

Fixture: ``tests/fixtures/golden/corrclip`` (how it was made: its NOTE.md). A CLIP ViT of 12
blocks (5 spatial blocks, the official rule for ViT-B) or 6 blocks (2 spatial blocks), a 2-block
DINO ViT with patch 8, fixed seeded region masks given through the official pre-generated-mask
path (read here by :class:`PrecomputedRegionMasks` from the same ``.npz`` files). Cases: 168 x 224
(ori 180 x 240, windows 112 / 56), 100 x 170 (ori 107 x 181: windows of 100 x 112 padded to 112
x 112 with the padding region), 150 x 200 (ori 161 x 213, one window padded to 168 x 224, CLIP
grid dropping half a patch). Labels after the map correction agree on >= 99.9 % of the pixels;
the averaged cosine logits at ori_shape (what the official post-processing receives) within
LOGIT_ATOL at 128 pixels.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from tests.golden_inputs import OFFICIAL_MEAN, OFFICIAL_STD, seeded_clip_state_dict, seeded_image
from tests.models.golden import LABEL_AGREEMENT, load_golden, official_text, sampled_scores

LOGIT_ATOL = 1e-4  # cosine similarities, float32 on both sides
CLASSNAMES = ['sky;wall;tree', 'cat', 'dog', 'car', 'person']  # official: synonyms of class 0
VARIANTS = {'deep': (12, 0.2), 'shallow': (6, 0.0)}  # CLIP blocks, probability threshold
CASES = ['slide', 'slide_pad', 'whole_remainder', 'many_regions']
DINO = dict(type='DINOEncoder', arch='vit_small_patch8_224', pretrained=None,
            pos_embed_resize='bicubic_offset',
            model_kwargs=dict(embed_dim=48, depth=2, num_heads=3, img_size=64))


def clip_kwargs(layers: int) -> dict:
    return dict(embed_dim=32, quick_gelu=True,
                vision_cfg=dict(image_size=224, patch_size=16, width=64, layers=layers,
                                head_width=32),
                text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))


@functools.lru_cache(maxsize=None)
def golden() -> dict[str, np.ndarray]:
    return load_golden('corrclip', 'outputs.npz')


@pytest.fixture(scope='module')
def mask_dir(tmp_path_factory) -> str:
    """The golden region masks as the official pre-generated files (<stem>.npz)."""
    folder = tmp_path_factory.mktemp('region_masks')
    for case in CASES:
        np.savez(folder / f'{case}.npz',
                 instance_mask=golden()[f'deep.{case}.regions'].astype(np.int64))
    return str(folder)


def build(variant: str, mask_dir: str, **backbone_overrides):
    from mmengine.registry import init_default_scope
    init_default_scope('ovperception')
    layers, threshold = VARIANTS[variant]
    clip = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                model_kwargs=clip_kwargs(layers), pos_embed_resize='bicubic_offset')
    model = MODELS.build(dict(
        type='OVModel',
        backbone=dict(type='CorrCLIPBackbone', clip=clip, dino=DINO,
                      regions=dict(type='PrecomputedRegionMasks', directory=mask_dir),
                      **backbone_overrides),
        template_set='imagenet80',
        data_preprocessor=dict(type='OVDataPreprocessor', mean=OFFICIAL_MEAN, std=OFFICIAL_STD),
        head=dict(type='DenseSimilarityHead', background_index=0, logit_scale=40.0,
                  prob_threshold=threshold),
        refiners=[dict(type='RegionVoteRefiner')],
        test_cfg=dict(mode='slide', crop_size=112, stride=56, crop_batch_size=4))).eval()
    tower = model.backbone.clip.model
    shapes = [(name, tuple(value.shape)) for name, value in tower.state_dict().items()]
    tower.load_state_dict(seeded_clip_state_dict(shapes, seed=0), strict=True)
    dino = model.backbone.dino.model
    shapes = [(name, tuple(value.shape)) for name, value in dino.state_dict().items()]
    dino.load_state_dict(seeded_clip_state_dict(shapes, seed=1), strict=True)
    return model


def run_case(model, variant: str, case: str, monkeypatch):
    prefix = f'{variant}.{case}.'
    arrays = {k[len(prefix):]: v for k, v in golden().items() if k.startswith(prefix)}
    text = official_text(model, golden()[f'{variant}.query_features'], CLASSNAMES)
    monkeypatch.setattr(model, 'encode_vocabulary', lambda names, device=None: text)
    crop, stride = (int(v) for v in arrays['slide'])
    monkeypatch.setitem(model.test_cfg, 'crop_size', crop)
    monkeypatch.setitem(model.test_cfg, 'stride', stride)
    ori = tuple(int(v) for v in arrays['ori_shape'])
    image = seeded_image(*(int(v) for v in arrays['image_hw']), int(arrays['seed']))
    sample = OVDataSample(metainfo=dict(classnames=CLASSNAMES, ori_shape=ori,
                                        img_path=f'/nowhere/{case}.jpg'))
    data = dict(inputs=[torch.from_numpy(image).permute(2, 0, 1).contiguous()],
                data_samples=[sample])
    with torch.no_grad():
        batch = model.data_preprocessor(data)
        encoded = model.encode_images(batch['inputs'], batch['data_samples'])
        result = model.decode(encoded, batch['data_samples'])[0]
        scores = model.stitched_output(encoded, 0, text).map_rows(ori)
    return arrays, scores, result.pred_sem_seg.data[0]


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_corrclip_matches_the_official_code(variant, mask_dir, monkeypatch):
    model = build(variant, mask_dir)
    for case in CASES:
        expected, scores, labels = run_case(model, variant, case, monkeypatch)
        ours = sampled_scores(scores, expected['pixels'])
        error = np.abs(ours - expected['logits']).max()
        assert error <= LOGIT_ATOL, (case, error)
        assert labels.shape == expected['labels'].shape
        agreement = float((labels.numpy() == expected['labels']).mean())
        assert agreement >= LABEL_AGREEMENT, (case, agreement)


def test_each_step_matters(mask_dir, monkeypatch):
    """Without the semantic branch, the spatial branch or mask merging the logits move beyond
    the tolerance, and without the map correction the labels disagree: the parity test above
    checks all four."""
    model = build('shallow', mask_dir)
    for name in ('beta', 'alpha', 'merge_eps'):
        with monkeypatch.context() as patch:
            patch.setattr(model.backbone, name, 0.0)
            expected, scores, _ = run_case(model, 'shallow', 'slide_pad', patch)
        assert np.abs(sampled_scores(scores, expected['pixels']) - expected['logits']).max() \
            > 10 * LOGIT_ATOL, name
    model.refiners = torch.nn.ModuleList()
    expected, _, labels = run_case(model, 'shallow', 'slide', monkeypatch)
    assert float((labels.numpy() == expected['labels']).mean()) < 0.9


def test_single_linkage_numbers_clusters_by_first_member():
    """DBSCAN(min_samples=1) on precomputed distances: chains link, clusters are numbered in
    order of their first point (scikit-learn's numbering)."""
    from ovperception.models.segmentation.corrclip import single_linkage_clusters
    points = torch.tensor([5.0, 0.0, 5.1, 0.15, 9.0, 0.3])
    distance = (points[:, None] - points[None, :]).abs()
    assert single_linkage_clusters(distance, 0.2).tolist() == [0, 1, 0, 1, 2, 1]


def test_majority_vote_keeps_the_unsegmented_region_and_breaks_ties_low():
    from ovperception.models.refiners.region_masks import majority_vote
    ids = torch.tensor([[0, 0, 4, 4], [7, 7, 4, 4]])
    labels = torch.tensor([[1, 2, 3, 3], [5, 2, 3, 1]])
    assert majority_vote(labels, ids).tolist() == [[1, 2, 3, 3], [2, 2, 3, 3]]


def test_bad_settings_and_missing_masks_fail_clearly(mask_dir, tmp_path):
    from ovperception.models.refiners.region_masks import PrecomputedRegionMasks
    with pytest.raises(ValueError, match='merge_eps'):
        build('shallow', mask_dir, merge_eps=-1.0)
    source = PrecomputedRegionMasks(str(tmp_path))
    sample = OVDataSample(metainfo=dict(img_path='/x/none.jpg', ori_shape=(4, 4)))
    with pytest.raises(FileNotFoundError, match='none.npz'):
        source.region_ids(torch.zeros(3, 4, 4), sample)
    np.savez(tmp_path / 'none.npz', instance_mask=np.zeros((5, 4), np.int64))
    with pytest.raises(ValueError, match='shape'):
        source.region_ids(torch.zeros(3, 4, 4), sample)
