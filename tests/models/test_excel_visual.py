"""ExCEL's surgery dual path and attention-affinity refinement against the official code
(tests/fixtures/golden/excel/NOTE.md)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.segmentation.excel_text import feature_surgery
from ovperception.models.segmentation.excel_visual import refine_with_affinity, surgery_forward
from tests.golden_inputs import seeded_clip_state_dict

GOLDEN = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'golden', 'excel')
SEED = 1


@pytest.fixture(scope='module')
def golden():
    return {k: torch.from_numpy(v) for k, v in
            np.load(os.path.join(GOLDEN, 'excel_visual_golden.npz')).items()}


@pytest.fixture(scope='module')
def backbone():
    model = OpenCLIPBackbone('ViT-B-16', pretrained=None, pos_embed_resize='bilinear',
                             model_kwargs=dict(embed_dim=32, quick_gelu=True, vision_cfg=dict(
                                 image_size=64, patch_size=16, width=128, layers=6,
                                 head_width=64), text_cfg=dict(width=32, heads=2, layers=1)))
    visual = model.visual
    state = seeded_clip_state_dict([(k, v.shape) for k, v in visual.state_dict().items()],
                                   seed=SEED)
    visual.load_state_dict(state)
    return model.eval()


def test_dual_path_tokens_and_attention_match_official(golden, backbone):
    images = torch.from_numpy(np.random.RandomState(SEED).standard_normal(
        (2, 3, 128, 128)).astype(np.float32))
    out = surgery_forward(backbone, images)
    assert out.grid == (8, 8)
    torch.testing.assert_close(out.tokens, golden['tokens'], atol=2e-5, rtol=0)
    torch.testing.assert_close(out.attention, golden['attention'], atol=2e-5, rtol=0)


def test_affinity_refinement_matches_official(golden):
    texts = torch.nn.functional.normalize(torch.from_numpy(np.random.RandomState(
        SEED + 1).standard_normal((6, 32)).astype(np.float32)), dim=-1)
    maps = feature_surgery(golden['tokens'], texts)[:, 1:, :4]
    torch.testing.assert_close(maps, golden['maps'], atol=1e-6, rtol=0)
    classes = torch.nonzero(golden['cls_label']).flatten().tolist()
    assert classes == golden['classes'].tolist()
    refined = refine_with_affinity(golden['maps'][0], golden['attention'][:, 0], classes, (8, 8))
    torch.testing.assert_close(refined, golden['refined'], atol=1e-6, rtol=1e-5)


def test_pseudo_labels_with_par_match_official(golden):
    from ovperception.models.segmentation.excel_masks import pseudo_labels
    images = torch.from_numpy(np.random.RandomState(SEED).standard_normal(
        (2, 3, 128, 128)).astype(np.float32))
    classes = golden['classes'].tolist()
    labels, scores = pseudo_labels(golden['refined'], images[0], classes, (100, 90))
    torch.testing.assert_close(scores, golden['label_scores'], atol=1e-6, rtol=0)
    agreement = (labels == golden['labels'][0]).float().mean().item()
    assert agreement == 1.0, agreement
