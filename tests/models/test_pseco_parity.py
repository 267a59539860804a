"""PseCo's point and scoring rules against its official code (Hzzone/PseCo, fixture
tests/fixtures/golden/pseco/scoring.npz, NOTE.md): peaks of ``PointDecoder.forward`` kept at
``score >= 0.05`` and placed at ``cell * 4``; ``evaluate`` of ``fsc147/4_1_train_roi_head.py``
scoring with SAM's raw IoU predictions (outside [0, 1]), best mask per point, box-area filter,
NMS and the count-threshold sweep."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ovperception.models.counting import ZeroShotCountingHead

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'pseco' / 'scoring.npz'


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN))


def _ordered(points: np.ndarray, scores: np.ndarray) -> list[tuple]:
    """(score, x, y) best first; ties (a plateau) ordered by position (PseCo's argsort is
    not stable there)."""
    return sorted(zip((-scores).tolist(), points[:, 0].tolist(), points[:, 1].tolist()))


def test_point_proposals_are_pseco_point_decoder_peaks(golden):
    heat = torch.from_numpy(golden['heatmap'])  # PseCo's 256 x 256 grid of the 1024 image
    head = ZeroShotCountingHead(peak_stride=1, peak_kernel=3, peak_threshold=0.05)
    points, scores = head.point_proposals(heat, (1024, 1024))
    assert _ordered(points.numpy(), scores.numpy()) == _ordered(golden['points'],
                                                               golden['point_scores'])
    assert float(golden['point_scores'].min()) == pytest.approx(0.05)  # kept at the threshold
    # the earlier rules: the cell centre (+2 px here) and a strict threshold
    old = ZeroShotCountingHead(peak_stride=1, peak_kernel=3, peak_threshold=0.05,
                               point_offset=0.5, peak_inclusive=False)
    old_points, old_scores = old.point_proposals(heat, (1024, 1024))
    assert len(old_points) == len(points) - 1 and float(old_scores.min()) > 0.05
    torch.testing.assert_close(old_points, points[:len(old_points)] + 2)


def _proposals(head: ZeroShotCountingHead, golden: dict) -> dict[str, torch.Tensor]:
    """Our scoring of the fixture's proposals (PseCo's ROI head replaced by its sigmoid
    outputs as class scores), then NMS."""
    class_scores = torch.sigmoid(torch.from_numpy(golden['class_logits']))
    boxes = torch.from_numpy(golden['boxes'])
    size = tuple(int(v) for v in golden['image_size'])
    _, chosen, scores, keep = head.score_proposals(
        class_scores, torch.from_numpy(golden['ious']), boxes, size)
    return head.suppress(dict(bboxes=chosen[keep], scores=scores[keep]))


def test_roi_scores_with_raw_sam_ious_match_pseco_evaluate(golden):
    low, high = golden['sam_iou_head_min_max']  # SAM's IoU head: an MLP without sigmoid
    assert low < 0 < 1 < high
    assert (golden['ious'] > 1).any() and (golden['ious'] < 0).any()
    head = ZeroShotCountingHead(score_threshold=-float('inf'), min_box_area=10,
                                max_box_area_ratio=0.75, nms_iou=0.5)
    found = _proposals(head, golden)
    torch.testing.assert_close(found['scores'], torch.from_numpy(golden['final_scores']),
                               rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(found['bboxes'], torch.from_numpy(golden['final_boxes']),
                               rtol=0, atol=0)  # PseCo's boxes, clamped to the image
    assert float(found['scores'].max()) > 1  # an IoU above 1 is kept, not clamped


def test_count_threshold_sweep_matches_pseco(golden):
    """Thresholding before NMS (ours) counts as PseCo's ``scores > thresh`` after NMS."""
    counts = []
    for threshold in np.arange(0, 1., 0.01):
        head = ZeroShotCountingHead(score_threshold=float(threshold))
        counts.append(len(_proposals(head, golden)['scores']))
    assert counts == golden['sweep_counts'].tolist()
    errors = np.abs(np.array(counts) - int(golden['gt_count']))
    assert np.arange(0, 1., 0.01)[np.argmin(errors)] == pytest.approx(
        float(golden['best_threshold']))
    assert errors.min() == float(golden['best_mae'])


def test_clamped_iou_option_changes_the_scores(golden):
    raw = _proposals(ZeroShotCountingHead(score_threshold=-float('inf')), golden)
    clamped = _proposals(ZeroShotCountingHead(score_threshold=-float('inf'), clamp_iou=True),
                         golden)
    assert float(clamped['scores'].max()) <= 1 < float(raw['scores'].max())
