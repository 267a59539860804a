"""WinCLIP windows: indices, harmonic aggregation (vectorised vs loop), masked forward, memory."""
from __future__ import annotations

import pytest
import torch

from ovperception.models.anomaly.window_scores import (harmonic_fusion, harmonic_patch_scores,
                                                       harmonic_patch_scores_naive,
                                                       memory_distance, window_indices)
from ovperception.models.clip.open_clip import OpenCLIPBackbone


def test_window_indices_known_answer():
    idx = window_indices((3, 4), 2)
    assert idx.shape == (2 * 3, 4)
    assert idx[0].tolist() == [0, 1, 4, 5]
    assert idx[-1].tolist() == [6, 7, 10, 11]
    assert window_indices((2, 2), 3).tolist() == [[0, 1, 2, 3]]  # clipped to the grid


@pytest.mark.parametrize('grid,size', [((4, 5), 2), ((5, 5), 3), ((3, 3), 1)])
def test_harmonic_patch_scores_match_naive_loop(grid, size):
    torch.manual_seed(0)
    idx = window_indices(grid, size)
    scores = torch.rand(2, idx.shape[0]) * 0.9 + 0.05
    torch.testing.assert_close(harmonic_patch_scores(scores, idx, grid),
                               harmonic_patch_scores_naive(scores, idx, grid))


def test_harmonic_known_answer_and_fusion():
    idx = window_indices((1, 3), 2)  # windows {0,1} and {1,2}
    out = harmonic_patch_scores(torch.tensor([[0.5, 0.25]]), idx, (1, 3))
    torch.testing.assert_close(out, torch.tensor([[[0.5, 2 / (2 + 4), 0.25]]]))
    fused = harmonic_fusion([torch.tensor([0.5]), torch.tensor([0.25])])
    torch.testing.assert_close(fused, torch.tensor([1 / 3]))


def test_memory_distance_is_zero_for_memorised_and_known_for_orthogonal():
    memory = torch.eye(4)[:2]
    queries = torch.stack([torch.eye(4)[0], torch.eye(4)[3], -torch.eye(4)[1]])[None]
    torch.testing.assert_close(memory_distance(queries, memory), torch.tensor([[0.0, 0.5, 0.5]]))


def test_window_covering_every_patch_equals_the_image_embedding():
    from tests.tiny import TINY_CLIP_KWARGS
    backbone = OpenCLIPBackbone('ViT-B-16', None, model_kwargs=TINY_CLIP_KWARGS)
    images = torch.randn(2, 3, 64, 64)
    everything = window_indices((4, 4), 4)
    windows = backbone.window_embeddings(images, everything)
    torch.testing.assert_close(windows[:, 0], backbone.image_embedding(images), atol=1e-5,
                               rtol=1e-5)
    small = backbone.window_embeddings(images, window_indices((4, 4), 2))
    assert small.shape == (2, 9, 32)
    torch.testing.assert_close(small.norm(dim=-1), torch.ones(2, 9))


@pytest.mark.parametrize('mode', ['vanilla', 'clearclip'])
def test_one_pass_features_equal_the_separate_backbone_calls(mode):
    from tests.tiny import TINY_CLIP_KWARGS
    backbone = OpenCLIPBackbone('ViT-B-16', None, dense_mode=mode, model_kwargs=TINY_CLIP_KWARGS)
    images = torch.randn(2, 3, 64, 48)
    global_embedding, maps, dense = backbone.global_and_dense_features(images, [0, -1])
    torch.testing.assert_close(global_embedding, backbone.image_embedding(images))
    torch.testing.assert_close(dense, backbone.dense_features(images))
    separate = [backbone.project_patch_tokens(m)
                for m in backbone.dense_intermediates(images, [0, -1])]
    for one_pass, reference in zip(maps, separate):
        torch.testing.assert_close(one_pass, reference)
