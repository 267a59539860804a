"""CLIP-EBC's block labels and density target against its official code
(tests/fixtures/golden/clip_ebc/NOTE.md, ``labels.npz``): ``DACELoss._bin_count`` on
non-integer block counts (4.5, 7.25, 1.5, 2.75 ...) and ``generate_density_map`` on points
with doubly annotated pixels (one mark per pixel, not one per annotation)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from ovperception.models.counting import BlockwiseCountingHead
from ovperception.models.counting.count_bins import (EBC_BINS_T2, EBC_BINS_T4, CountBins,
                                                  points_to_block_counts,
                                                  points_to_density_target)
from ovperception.structures import OVDataSample

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'clip_ebc' / 'labels.npz'
BINS = {'t4': EBC_BINS_T4, 't2': EBC_BINS_T2}


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN))


@pytest.mark.parametrize('name', list(BINS))
def test_block_labels_follow_the_official_bin_count(golden, name):
    bins = CountBins.build(BINS[name])
    crafted = torch.from_numpy(golden['crafted_blocks'])[:, 0]  # 4.5, 7.25, 1.5, 0, 3, 2.75
    assert bins.labels(crafted).tolist() == golden[f'crafted_labels_{name}'].tolist()
    values = torch.from_numpy(golden['values'])[:, 0]
    assert bins.labels(values).tolist() == golden[f'values_labels_{name}'].tolist()


def _head(density_target: str = 'official') -> BlockwiseCountingHead:
    return BlockwiseCountingHead(16, feature_stride=16, block_size=8, count_loss='mae',
                                 density_target=density_target)


def _sample(points: np.ndarray, size: tuple[int, int]) -> OVDataSample:
    return OVDataSample(gt_instances=InstanceData(points=torch.from_numpy(points)),
                        metainfo=dict(img_shape=size))


def test_density_target_is_the_official_one_pixel_map(golden):
    points, size = golden['points'], tuple(int(v) for v in golden['points_size'])
    want = torch.from_numpy(golden['points_blocks'])[0]  # (1, 4, 6)
    got = points_to_density_target(torch.from_numpy(points), size, 8)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    counts, valid = _head().targets([_sample(points, size)], 1, (4, 6), torch.device('cpu'))
    torch.testing.assert_close(counts[0], want, rtol=0, atol=0)
    labels = CountBins.build(EBC_BINS_T4).labels(counts)
    assert labels[:, 0].tolist() == golden['points_labels_t4'].tolist()
    # the 'points' option counts every annotation: 19 instead of the 14 marked pixels
    ours, _ = _head('points').targets([_sample(points, size)], 1, (4, 6), torch.device('cpu'))
    assert float(ours.sum()) == len(points) == 19 and float(counts.sum()) == 14
    # with these targets the official DACE loss (CE summed + block-wise MAE) is reproduced
    logits, pred = torch.from_numpy(golden['dace_logits']), torch.from_numpy(golden['dace_pred'])
    ce = F.cross_entropy(logits, labels[:, 0], reduction='sum') / len(logits)
    mae = F.l1_loss(pred, counts, reduction='sum') / len(logits)
    assert float(ce) == pytest.approx(float(golden['dace_ce']), rel=1e-6)
    assert float(ce + mae) == pytest.approx(float(golden['dace_loss']), rel=1e-6)


def test_density_target_clamps_to_the_image_and_keeps_classes_apart():
    points = torch.tensor([[-3.0, 2.0], [-0.5, 2.9], [20.0, 40.0], [5.0, 5.0], [5.0, 5.0]])
    labels = torch.tensor([0, 0, 0, 0, 1])
    got = points_to_density_target(points, (16, 16), 8, labels, 2, grid_size=(24, 24))
    assert got.shape == (2, 3, 3)
    # (-3, 2) and (-0.5, 2.9) fall on pixel (0, 2); (20, 40) is clamped to (15, 15)
    assert got[0].tolist() == [[2, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert got[1].tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert points_to_density_target(torch.zeros(0, 2), (16, 16), 8).sum() == 0
    # ours: every point inside counts, points outside are dropped
    assert points_to_block_counts(points, (16, 16), 8, labels, 2)[0].tolist() == [[1, 0],
                                                                                 [0, 0]]


def test_unknown_density_target_is_rejected():
    with pytest.raises(ValueError, match='density_target'):
        _head('gaussian')
