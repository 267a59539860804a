"""SAM refinement: prompt generation, merging, known answers with an oracle SAM, tiny SAM."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models.clip.weights import WeightsNotFoundError
from ovperception.models.refiners.mask_ops import connected_components, interior_points
from ovperception.models.refiners.sam import SAMImageState, SAMMasks, SAMWrapper
from ovperception.models.refiners.sam_refiner import (SAMRefineOptions, SAMRefiner, merge_masks,
                                                      prompts_from_label_map,
                                                      refine_sem_seg_with_sam)
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample

HEIGHT, WIDTH = 40, 60


def truth() -> np.ndarray:
    """Ground-truth labels: a rectangle of class 1 and a disc of class 2 on 255."""
    labels = np.full((HEIGHT, WIDTH), 255, dtype=np.int64)
    labels[5:20, 5:25] = 1
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    labels[(ys - 25) ** 2 + (xs - 42) ** 2 <= 10 ** 2] = 2
    return labels


def coarse() -> np.ndarray:
    """A blurry prediction: shifted rectangle, a box instead of the disc, a speck of noise."""
    labels = np.full((HEIGHT, WIDTH), 255, dtype=np.int64)
    labels[8:24, 8:28] = 1
    labels[17:33, 34:50] = 2
    labels[0:2, 55:57] = 1  # 4-pixel speck: below min_area, never prompted
    return labels


class OracleSAM:
    """Stands in for SAM: each prompt gets the true object under its first point."""

    def __init__(self, iou: float = 0.95) -> None:
        self.iou = iou
        self.encoded = 0
        self.objects = [truth() == label for label in (1, 2)]

    def set_image(self, image, original_size=None, keep_qkv=False) -> SAMImageState:
        self.encoded += 1
        return SAMImageState(torch.zeros(1, 1, 1, 1), tuple(original_size), (1, 1))

    def predict(self, state, points=None, point_labels=None, boxes=None, mask_inputs=None,
                multimask=False) -> SAMMasks:
        masks = []
        for point in points[:, 0].long().tolist():
            hit = [obj for obj in self.objects if obj[point[1], point[0]]]
            masks.append(torch.from_numpy(hit[0] if hit else np.zeros_like(self.objects[0])))
        masks = torch.stack(masks)[:, None] if masks else torch.zeros(0, 1, HEIGHT, WIDTH)
        return SAMMasks(masks=masks.bool(), iou_scores=torch.full((len(masks), 1), self.iou),
                        low_res_logits=torch.zeros(len(masks), 1, 4, 4))


def make_sample(labels: np.ndarray, probs: torch.Tensor | None = None) -> OVDataSample:
    sample = OVDataSample(metainfo=dict(ori_shape=labels.shape))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(labels)[None])
    if probs is not None:
        sample.seg_logits = PixelData(data=probs)
    return sample


def test_interior_points_known_answer() -> None:
    mask = np.zeros((9, 11), dtype=bool)
    mask[2:7, 2:9] = True  # 5 x 7 rectangle centred at (x=5, y=4)
    np.testing.assert_array_equal(interior_points(mask), [[5, 4]])
    two = np.zeros((9, 30), dtype=bool)
    two[1:8, 1:8] = True
    two[1:8, 20:27] = True
    points = interior_points(two, num_points=3)
    # The two centres first (the second is outside the first's disc), then a shallower point.
    assert points[:2].tolist() == [[4.0, 4.0], [23.0, 4.0]] and len(points) == 3
    single = np.zeros((5, 5), dtype=bool)
    single[2, 2] = True
    np.testing.assert_array_equal(interior_points(single, num_points=4), [[2, 2]])
    with pytest.raises(ValueError):
        interior_points(np.zeros((3, 3), dtype=bool))


def test_connected_components_known_answer() -> None:
    mask = np.zeros((6, 8), dtype=bool)
    mask[0:2, 0:2] = True
    mask[2, 2] = True  # touches the first block diagonally: 8-connected
    mask[4:6, 5:8] = True
    ids, areas, boxes = connected_components(mask)
    assert areas.tolist() == [5, 6]
    assert boxes.tolist() == [[0, 0, 2, 2], [5, 4, 7, 5]]
    assert ids[0, 0] == ids[2, 2] != ids[5, 7] > 0 and ids[3, 3] == 0


def test_prompts_from_label_map() -> None:
    options = SAMRefineOptions(min_area=10, num_points=2)
    prompts = prompts_from_label_map(coarse(), None, options)
    assert len(prompts) == 2  # the speck is too small
    assert prompts.labels.tolist() == [1, 2]  # largest component first (320 vs 256 pixels)
    torch.testing.assert_close(prompts.boxes, torch.tensor([[8.0, 8, 27, 23], [34, 17, 49, 32]]))
    assert prompts.points.shape == (2, 2, 2) and (prompts.point_labels == 1).all()
    torch.testing.assert_close(prompts.class_scores, torch.ones(2))
    skipped = prompts_from_label_map(coarse(), None, SAMRefineOptions(min_area=10,
                                                                      skip_labels=(1,)))
    assert skipped.labels.tolist() == [2]
    capped = prompts_from_label_map(coarse(), None, SAMRefineOptions(min_area=1, max_prompts=1))
    assert capped.labels.tolist() == [1]


def test_coarse_threshold_and_scores_use_probabilities() -> None:
    labels = coarse()
    probs = torch.zeros(3, HEIGHT, WIDTH)
    probs[1] = torch.from_numpy(labels == 1).float() * 0.9
    probs[2] = torch.from_numpy(labels == 2).float() * 0.6
    prompts = prompts_from_label_map(labels, probs, SAMRefineOptions(min_area=10))
    torch.testing.assert_close(prompts.class_scores, torch.tensor([0.9, 0.6]))
    strict = prompts_from_label_map(labels, probs, SAMRefineOptions(min_area=10,
                                                                    coarse_threshold=0.7))
    assert strict.labels.tolist() == [1]


def test_merge_masks_known_answer() -> None:
    coarse_labels = torch.tensor([[0, 0, 0], [1, 1, 1]])
    masks = torch.tensor([[[1, 1, 0], [1, 0, 0]],
                          [[0, 1, 1], [0, 0, 0]]], dtype=torch.bool)
    merged = merge_masks(coarse_labels, masks, torch.tensor([3, 4]), torch.tensor([0.5, 0.9]))
    assert merged.tolist() == [[3, 4, 4], [3, 1, 1]]
    merged = merge_masks(coarse_labels, masks, torch.tensor([3, 4]), torch.tensor([0.95, 0.9]))
    assert merged.tolist() == [[3, 3, 4], [3, 1, 1]]
    # Chunked comparison (one mask at a time) gives the same answer; ties: first mask wins.
    assert merge_masks(coarse_labels, masks, torch.tensor([3, 4]), torch.tensor([0.9, 0.9]),
                       chunk=1).tolist() == [[3, 3, 4], [3, 1, 1]]
    many = torch.rand(40, 6, 7) > 0.6
    scores = torch.rand(40)
    expected = torch.zeros(6, 7, dtype=torch.long)
    for y in range(6):  # naive: best-scored covering mask per pixel
        for x in range(7):
            covering = [n for n in range(40) if many[n, y, x]]
            expected[y, x] = max(covering, key=lambda n: scores[n]) + 10 if covering else 0
    labels = torch.arange(40) + 10
    for chunk in (1, 7, 64):
        merged = merge_masks(torch.zeros(6, 7, dtype=torch.long), many, labels, scores, chunk)
        assert torch.equal(merged, expected)


def test_oracle_refinement_recovers_truth() -> None:
    sam = OracleSAM()
    sample = make_sample(coarse())
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    refined = refine_sem_seg_with_sam(image, sample, sam, min_area=10).pred_sem_seg.data[0]
    expected = np.where(truth() != 255, truth(), coarse())  # objects sharp, rest kept
    np.testing.assert_array_equal(refined.numpy(), expected)
    assert sam.encoded == 1
    # Predicted IoU below the threshold: nothing changes.
    sample = make_sample(coarse())
    unchanged = refine_sem_seg_with_sam(image, sample, OracleSAM(iou=0.5), min_area=10)
    np.testing.assert_array_equal(unchanged.pred_sem_seg.data[0].numpy(), coarse())


def test_oracle_overlaps_resolved_by_class_score() -> None:
    # Both classes prompt inside the rectangle object; the more confident class wins it.
    labels = np.full((HEIGHT, WIDTH), 255, dtype=np.int64)
    labels[5:20, 5:15] = 1
    labels[5:20, 15:25] = 2
    probs = torch.zeros(3, HEIGHT, WIDTH)
    probs[1], probs[2] = 0.4, 0.7
    refined = refine_sem_seg_with_sam(np.zeros((HEIGHT, WIDTH, 3), np.uint8),
                                      make_sample(labels, probs), OracleSAM(), min_area=10)
    out = refined.pred_sem_seg.data[0].numpy()
    assert (out[truth() == 1] == 2).all() and (out[truth() != 1] == labels[truth() != 1]).all()


def test_min_component_iou_drops_swallowing_masks() -> None:
    labels = np.full((HEIGHT, WIDTH), 255, dtype=np.int64)
    labels[10:13, 10:14] = 1  # 12 pixels inside a 300-pixel object: IoU 0.04
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    grown = refine_sem_seg_with_sam(image, make_sample(labels), OracleSAM(), min_area=4)
    assert (grown.pred_sem_seg.data[0].numpy() == 1).sum() == 300
    kept = refine_sem_seg_with_sam(image, make_sample(labels), OracleSAM(), min_area=4,
                                   min_component_iou=0.5)
    np.testing.assert_array_equal(kept.pred_sem_seg.data[0].numpy(), labels)


def test_absent_classes_and_bad_options() -> None:
    sam = OracleSAM()
    empty = np.full((HEIGHT, WIDTH), 255, dtype=np.int64)
    sample = refine_sem_seg_with_sam(np.zeros((HEIGHT, WIDTH, 3), np.uint8), make_sample(empty),
                                     sam)
    assert (sample.pred_sem_seg.data == 255).all() and sam.encoded == 0  # SAM never ran
    with pytest.raises(TypeError, match='unknown SAM refinement options'):
        refine_sem_seg_with_sam(None, make_sample(empty), sam, min_aera=3)
    with pytest.raises(ValueError, match='pred_sem_seg'):
        refine_sem_seg_with_sam(None, OVDataSample(), sam)
    with pytest.raises(ValueError):
        SAMRefineOptions(num_points=0)


@pytest.fixture(scope='module')
def tiny_sam() -> SAMWrapper:
    torch.manual_seed(0)
    return SAMWrapper('tiny')


@pytest.mark.parametrize('mask_prompt,multimask', [(False, False), (True, True)])
def test_tiny_sam_refiner_runs(tiny_sam: SAMWrapper, mask_prompt: bool, multimask: bool) -> None:
    refiner = SAMRefiner(tiny_sam, min_area=4, iou_threshold=-1e9, num_points=2,
                         mask_prompt=mask_prompt, multimask=multimask)
    # Working-resolution image (20 x 30, smaller than SAM's input) for a 40 x 60 original.
    image = torch.rand(3, 20, 30) * 255
    probs = torch.softmax(torch.randn(3, 20, 30), dim=0)
    sample = make_sample(coarse(), probs)
    out = refiner.refine([image], [sample])[0]
    refined = out.pred_sem_seg.data
    assert refined.shape == (1, HEIGHT, WIDTH) and refined.dtype == torch.int64
    assert set(refined.unique().tolist()) <= {1, 2, 255}
    assert not torch.equal(refined[0], torch.from_numpy(coarse()))  # SAM changed something
    assert out.seg_logits.data is probs


def test_tiny_sam_without_masks_keeps_labels(tiny_sam: SAMWrapper) -> None:
    refiner = SAMRefiner(tiny_sam, min_area=4, iou_threshold=1e9)  # no mask passes
    out = refiner.refine([torch.rand(3, 40, 60) * 255], [make_sample(coarse())])[0]
    np.testing.assert_array_equal(out.pred_sem_seg.data[0].numpy(), coarse())


def test_refiner_missing_checkpoint(tmp_path) -> None:
    missing = str(tmp_path / 'sam_vit_b_01ec64.pth')
    with pytest.raises(WeightsNotFoundError, match='--sam-checkpoint'):
        MODELS.build(dict(type='SAMRefiner', sam=dict(type='SAMWrapper', model_type='vit_b',
                                                       checkpoint=missing)))
