"""Proposal sources: connected components by hand, FCOS targets, learned head training, SAM."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovperception.datasets.synthetic_detection import make_synthetic_detection_sample
from ovperception.models.detection.proposals import (ConnectedComponentProposals,
                                                     LearnedProposals, ProposalInputs,
                                                     SAMProposals, centerness, fcos_targets,
                                                     location_centers)
from tests.detection_toys import ColourBackbone


def _inputs(class_probs, background_prob=None, stride=4.0, size=None, **kwargs):
    h, w = class_probs.shape[-2:]
    return ProposalInputs(torch.zeros(2, h, w), stride, size or (int(h * stride), int(w * stride)),
                          class_probs=class_probs, background_prob=background_prob, **kwargs)


def test_connected_components_known_boxes_and_masks():
    probs = torch.zeros(2, 8, 10)
    probs[0, 1:3, 1:4] = 0.9   # class 0 blob A: cells y 1..2, x 1..3
    probs[0, 6:8, 8:10] = 0.8  # class 0 blob B at the border
    probs[1, 5:7, 2:4] = 0.7   # class 1 blob
    background = 1 - probs.max(dim=0).values  # elsewhere the background wins
    source = ConnectedComponentProposals(include_foreground=False)
    proposals = source.propose(_inputs(probs, background, size=(30, 38)))
    boxes = {tuple(b) for b in proposals.boxes.tolist()}
    assert boxes == {(4.0, 4.0, 16.0, 12.0), (32.0, 24.0, 38.0, 30.0), (8.0, 20.0, 16.0, 28.0)}
    assert proposals.scores.tolist() == pytest.approx([0.9, 0.8, 0.7])  # sorted by score
    assert proposals.masks.shape == (3, 8, 10) and proposals.masks.sum().item() == 6 + 4 + 4


def test_touching_objects_also_give_a_foreground_proposal():
    probs = torch.zeros(2, 4, 6)
    probs[0, 1:3, 0:3] = 1.0
    probs[1, 1:3, 3:5] = 1.0
    background = 1 - probs.max(dim=0).values
    with_fg = ConnectedComponentProposals(include_foreground=True).propose(
        _inputs(probs, background, stride=1.0))
    without = ConnectedComponentProposals(include_foreground=False).propose(
        _inputs(probs, background, stride=1.0))
    assert len(without) == 2 and len(with_fg) == 3
    assert [0.0, 1.0, 5.0, 3.0] in with_fg.boxes.tolist()


def test_min_area_threshold_and_empty_map():
    probs = torch.zeros(1, 5, 5)
    probs[0, 0, 0] = 1.0
    probs[0, 2:5, 2:5] = 1.0
    background = 1 - probs[0]
    assert len(ConnectedComponentProposals(min_area=2).propose(_inputs(probs, background))) == 1
    assert len(ConnectedComponentProposals(min_area=1).propose(_inputs(probs, background))) == 2
    empty = ConnectedComponentProposals().propose(_inputs(probs * 0, torch.ones(5, 5)))
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)
    threshold = ConnectedComponentProposals(prob_threshold=0.5)
    assert len(threshold.propose(_inputs(probs * 0.4))) == 0


def test_fcos_targets_and_centerness_by_hand():
    centers = location_centers(2, 3, 10.0, 'cpu')  # centres x 5, 15, 25; y 5, 15
    big = [0.0, 0.0, 30.0, 20.0]
    small = [10.0, 0.0, 20.0, 10.0]   # contains only (15, 5)
    tiny = [26.0, 16.0, 28.0, 18.0]   # contains no centre: gets the nearest (25, 15) ... taken
    assigned, distances = fcos_targets(centers, torch.tensor([big, small, tiny]))
    assert assigned.tolist() == [0, 1, 0, 0, 0, 0]  # smallest box wins; (25,15) already has big
    assert distances[1].tolist() == [5.0, 5.0, 5.0, 5.0]
    assert distances[0].tolist() == [5.0, 5.0, 25.0, 15.0]
    assert centerness(distances[:2]).tolist() == pytest.approx([(5 / 25 * 5 / 15) ** 0.5, 1.0])
    lone, _ = fcos_targets(centers, torch.tensor([tiny]))
    assert lone.tolist() == [-1, -1, -1, -1, -1, 0]
    none, _ = fcos_targets(centers, torch.zeros(0, 4))
    assert (none == -1).all()


def test_learned_proposals_loss_falls_and_proposes_the_objects(one_thread):
    torch.manual_seed(0)
    backbone = ColourBackbone(patch_size=4)
    samples = [make_synthetic_detection_sample(i, seed=3, num_classes=3) for i in range(8)]
    images = torch.stack([torch.from_numpy(s['img']).permute(2, 0, 1).float() for s in samples])
    feats = backbone.dense_features(images)
    boxes = [torch.from_numpy(s['bboxes']) for s in samples]
    source = LearnedProposals(in_channels=backbone.embed_dim, hidden_channels=32,
                              distance_scale=8.0)
    optimizer = torch.optim.AdamW(source.parameters(), lr=1e-2)
    history = []
    for _ in range(60):
        losses = source.loss(feats, boxes, stride=4.0)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert set(losses) == {'loss_obj', 'loss_box', 'loss_ctr'}
    assert np.mean(history[-5:]) < 0.5 * np.mean(history[:5])
    with torch.no_grad():
        extra = source.dense(feats[:1])[0]
    proposals = source.propose(ProposalInputs(feats[0], 4.0, (64, 96), extra=extra))
    from torchvision.ops import box_iou
    best = box_iou(boxes[0], proposals.boxes).max(dim=1).values
    assert (best > 0.5).all(), best


class FakeSAM(torch.nn.Module):
    """Stands in for SAMWrapper (same set_image / automatic_masks interface)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def set_image(self, image):
        self.calls.append(tuple(image.shape))
        return {'image': image}

    def automatic_masks(self, state, **options):
        height, width = state['image'].shape[-2:]
        mask = np.zeros((height, width), bool)
        mask[2:10, 4:20] = True
        low = np.zeros((height, width), bool)
        low[20:30, 20:30] = True
        return [dict(segmentation=low, bbox=[20, 20, 29, 29], area=100, predicted_iou=0.7,
                     stability_score=0.9),  # boxes with inclusive ends, as SAMWrapper's
                dict(segmentation=mask, bbox=[4, 2, 19, 9], area=128, predicted_iou=0.95,
                     stability_score=0.9)]


def test_sam_proposals_through_the_wrapper_interface():
    sam = FakeSAM()
    source = SAMProposals(sam, points_per_side=4, max_proposals=1)
    image = torch.full((3, 32, 40), 100.0)
    proposals = source.propose(ProposalInputs(torch.zeros(2, 8, 10), 4.0, (32, 40), image=image))
    assert sam.calls == [(3, 32, 40)]
    assert proposals.boxes.tolist() == [[4.0, 2.0, 20.0, 10.0]]
    assert proposals.scores.tolist() == pytest.approx([0.95])
    assert proposals.masks.shape == (1, 32, 40)
    with pytest.raises(ValueError, match='RGB image'):
        source.propose(ProposalInputs(torch.zeros(2, 8, 10), 4.0, (32, 40)))


def test_sam_proposals_with_the_tiny_sam_wrapper():
    source = SAMProposals(dict(type='SAMWrapper', model_type='tiny'), points_per_side=4,
                          pred_iou_thresh=-10.0, stability_score_thresh=-10.0, min_area=1)
    image = torch.zeros(3, 48, 64)
    image[:, 10:30, 20:50] = 200.0
    proposals = source.propose(ProposalInputs(torch.zeros(2, 12, 16), 4.0, (48, 64), image=image))
    assert len(proposals) > 0 and proposals.masks.shape[1:] == (48, 64)
    for box, mask in zip(proposals.boxes, proposals.masks):  # exclusive ends cover the mask
        rows, cols = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [cols.min().item(), rows.min().item(), cols.max().item() + 1,
                                rows.max().item() + 1]
