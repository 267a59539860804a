"""MuSc against its official modules (tests/fixtures/golden/musc/NOTE.md): LNAMD aggregation,
mutual scoring (MSM), the layer / degree averaging, the align_corners map, RsCIN; the chunked
and on-disk paths equal the in-memory one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovperception.models.anomaly.musc import score_image_set
from ovperception.models.anomaly.musc_aggregation import (aggregate_neighbourhood,
                                                          normalise_token_map)
from ovperception.models.anomaly.musc_store import FeatureStore
from ovperception.models.anomaly.mutual_scoring import (interval_count, mutual_scores,
                                                        rescore_with_neighbours)
from tests.models.golden import load_golden

GOLDEN = load_golden('musc', 'tiny_musc.npz')
GRID = 6


def token_maps(layer: int) -> torch.Tensor:
    """(N, C, 6, 6) maps from the official (N, 1 + L, C) tokens (class token dropped)."""
    tokens = torch.from_numpy(GOLDEN[f'tokens{layer}'])[:, 1:]
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, GRID, GRID)


@pytest.mark.parametrize('r', [1, 3, 5])
def test_neighbourhood_aggregation_matches_lnamd(r):
    for layer in range(2):
        ours = aggregate_neighbourhood(normalise_token_map(token_maps(layer)), r)
        np.testing.assert_allclose(ours.numpy(), GOLDEN[f'Z_r{r}'][:, :, layer], rtol=0,
                                   atol=2e-6)


@pytest.mark.parametrize('chunk', [3, 5, 12])
def test_mutual_scores_match_msm_in_any_chunking(chunk):
    for r in (1, 3, 5):
        for layer in range(2):
            z = torch.from_numpy(GOLDEN[f'Z_r{r}'][:, :, layer])
            ours = mutual_scores(lambda a, b: z[a:b], len(z), 0.3, chunk)
            np.testing.assert_allclose(ours.numpy(), GOLDEN[f'msm_r{r}_l{layer}'], rtol=0,
                                       atol=1e-5)


def test_small_sets_average_at_least_the_nearest_image():
    z = torch.from_numpy(GOLDEN['Z_r3'][:, :, 0])
    np.testing.assert_allclose(mutual_scores(lambda a, b: z[a:b], 5).numpy(), GOLDEN['msm_5'],
                               rtol=0, atol=1e-5)
    assert np.isnan(GOLDEN['msm_3']).all()  # the release averages nothing for N < 5
    three = mutual_scores(lambda a, b: z[a:b], 3)
    nearest = torch.cdist(z[0], z[1]).amin(1).minimum(torch.cdist(z[0], z[2]).amin(1))
    assert torch.allclose(three[0].float(), nearest, atol=1e-6)
    assert interval_count(200) == 59
    with pytest.raises(ValueError, match='at least 2 images'):
        interval_count(1)


@pytest.mark.parametrize('location', [None, 'disk'])
def test_whole_set_maps_and_rescored_scores(location):
    store = FeatureStore(2, location, capacity=5)  # grows on disk
    for start in range(0, 12, 5):
        store.add([normalise_token_map(token_maps(layer))[start:start + 5] for layer in range(2)])
    embeddings = torch.from_numpy(GOLDEN['class_tokens'])
    maps, scores = score_image_set(store, embeddings, (20, 20), (1, 3, 5), 0.3, 4, (1, 2, 3))
    np.testing.assert_allclose(maps.numpy(), GOLDEN['maps'], rtol=0, atol=1e-5)
    np.testing.assert_allclose(scores.numpy(), GOLDEN['rscin_mvtec'], rtol=0, atol=1e-5)
    store.close()


def test_rscin_visa_neighbourhoods():
    raw = torch.from_numpy(GOLDEN['ac_score'])
    embeddings = torch.from_numpy(GOLDEN['class_tokens'])
    for k_list, key in (((1, 2, 3), 'rscin_mvtec'), ((1, 8, 9), 'rscin_visa')):
        ours = rescore_with_neighbours(raw, embeddings, k_list)
        np.testing.assert_allclose(ours.numpy(), GOLDEN[key], rtol=0, atol=1e-6)
    assert torch.equal(rescore_with_neighbours(raw, embeddings, ()), raw)
