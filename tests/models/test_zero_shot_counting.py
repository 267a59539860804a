"""Zero-shot counting: peak extraction (parity with a loop), mask pooling, the whole pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ovperception.datasets.synthetic_counting import make_dot_image
from ovperception.models import OVModel
from ovperception.models.counting import (ZeroShotCountingHead, boxes_to_masks, find_peaks,
                                          pool_in_masks)
from ovperception.models.refiners.sam import SAMMasks, SAMWrapper
from ovperception.structures import OVDataSample


def _naive_peaks(heat: np.ndarray, kernel: int, threshold: float):
    """The definition: a cell is a peak if no cell of its clipped window is larger."""
    height, width = heat.shape
    radius = kernel // 2
    found = []
    for y in range(height):
        for x in range(width):
            window = heat[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
            if heat[y, x] > threshold and heat[y, x] >= window.max():
                found.append((-heat[y, x], y * width + x, x, y))
    found.sort()
    return [(x, y) for _, _, x, y in found], [-s for s, _, _, _ in found]


@pytest.mark.parametrize('kernel,threshold', [(3, 0.0), (5, 0.5), (1, 0.9)])
def test_peaks_match_the_naive_loop(kernel, threshold):
    gen = torch.Generator().manual_seed(kernel)
    heat = torch.rand(13, 17, generator=gen)
    heat[3, 4:7] = 1.5  # a plateau: every cell of it is a peak
    points, scores = find_peaks(heat, kernel, threshold)
    want_points, want_scores = _naive_peaks(heat.numpy(), kernel, threshold)
    assert points.long().tolist() == [list(p) for p in want_points]
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-6)
    top, _ = find_peaks(heat, kernel, threshold, max_peaks=2)
    assert top.tolist() == points[:2].tolist()


def test_peaks_reject_bad_arguments_and_empty_maps():
    with pytest.raises(ValueError, match='odd'):
        find_peaks(torch.zeros(4, 4), kernel=2)
    points, scores = find_peaks(torch.zeros(4, 4), threshold=0.1)
    assert points.shape == (0, 2) and scores.shape == (0,)


def test_pool_in_masks_known_answer_across_resolutions():
    maps = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[0, :2, :2] = True       # the top-left cell: 1
    masks[1, :, 2:] = True        # the right column: (2 + 4) / 2
    masks[2, 1, 1] = True         # a quarter of the top-left cell: 1
    np.testing.assert_allclose(pool_in_masks(masks, maps)[:, 0].numpy(), [1.0, 3.0, 1.0])
    assert pool_in_masks(torch.zeros(1, 2, 2), maps).item() == 0.0
    boxes = boxes_to_masks(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), (3, 4))
    assert boxes[0].int().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


# ---------------------------------------------------------------- pipeline on dot images
RED, BACKGROUND = torch.tensor([1.42, -1.30, -1.05]), torch.tensor([-1.13, -1.08, -0.84])


class ColourBackbone(nn.Module):
    """Dense features = mean normalised RGB per 4x4 patch; text 'red dot' / 'background'
    map to the normalised colours of the synthetic dots and background."""

    patch_size, logit_scale, weights_id, embed_dim = 4, 100.0, 'colour:v1', 3

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)

    def dense_features(self, images: Tensor) -> Tensor:
        return nn.functional.avg_pool2d(images, self.patch_size, ceil_mode=True)

    def encode_text(self, texts: list[str]) -> Tensor:
        table = {'red dot': RED, 'background': BACKGROUND}
        return nn.functional.normalize(torch.stack([table[t] for t in texts]), dim=-1)


class DiscSAM(nn.Module):
    """SAM stand-in: each point prompt gives discs of radius 2, 4 and 12 around it."""

    device = torch.device('cpu')

    def set_image(self, image, original_size=None):
        return dict(size=tuple(original_size or image.shape[-2:]))

    def predict(self, state, points, point_labels, multimask=True):
        height, width = state['size']
        ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5,
                                indexing='ij')
        dist = ((xs[None] - points[:, 0, 0, None, None]) ** 2
                + (ys[None] - points[:, 0, 1, None, None]) ** 2).sqrt()
        masks = torch.stack([dist <= r for r in (2, 4, 12)], 1)
        ious = torch.tensor([0.6, 0.95, 0.7]).expand(len(points), 3)
        return SAMMasks(masks=masks, iou_scores=ious, low_res_logits=torch.zeros(0))


def _counter(sam, **kwargs) -> OVModel:
    # the cell centre (point_offset=0.5) suits these 4 px cells and 2-12 px discs; PseCo's
    # cell corner is measured in test_pseco_cell_corner_misses_small_dots_the_centre_finds
    kwargs.setdefault('point_offset', 0.5)
    head = ZeroShotCountingHead(sam=sam, logit_scale=30.0, peak_stride=4, peak_kernel=3,
                                peak_threshold=0.5, score_threshold=0.5, min_box_area=4,
                                **kwargs)
    return OVModel(ColourBackbone(), head, template_set=['{}'], background_words=['background'],
                   test_cfg=dict(mode='whole'))


def _predict(model, image, classnames=('red dot',)):
    sample = OVDataSample(metainfo=dict(classnames=list(classnames)))
    batch = model.data_preprocessor(dict(inputs=[torch.from_numpy(image).permute(2, 0, 1)],
                                         data_samples=[sample]))
    return model.predict(batch['inputs'], batch['data_samples'])[0]


@pytest.mark.parametrize('with_sam', [True, False])
def test_pipeline_counts_red_dots_and_ignores_distractors(with_sam):
    model = _counter(DiscSAM() if with_sam else None)
    errors = []
    for index in range(6):
        image, points, _ = make_dot_image(index, seed=3, image_size=(96, 96), max_count=8,
                                          radius=4, distractor_colours=('blue',),
                                          max_distractors=4)
        sample = _predict(model, image)
        errors.append(abs(float(sample.pred_count[0]) - len(points)))
        instances = sample.pred_instances
        assert len(instances) == int(sample.pred_count[0])
        centres = (instances.bboxes[:, :2] + instances.bboxes[:, 2:]) / 2
        if len(points) and len(centres):  # every detection sits on its own true dot
            dist = torch.cdist(centres, torch.from_numpy(points))
            assert bool((dist.min(1).values < 4).all())
            assert len(set(dist.argmin(1).tolist())) == len(centres)
        if with_sam:
            assert instances.masks.shape[1:] == (96, 96)
    assert sum(errors) == 0, errors


def _dot_errors(model) -> list[float]:
    errors = []
    for index in range(6):
        image, points, _ = make_dot_image(index, seed=3, image_size=(96, 96), max_count=8,
                                          radius=4, distractor_colours=('blue',),
                                          max_distractors=4)
        errors.append(abs(float(_predict(model, image).pred_count[0]) - len(points)))
    return errors


def test_pseco_cell_corner_misses_small_dots_the_centre_finds():
    """The measured effect of ``point_offset`` (docs/fidelity.md): with 4 px cells, PseCo's
    ``cell * stride`` prompts SAM up to a half cell off the dot, whose disc masks then score
    below the threshold; the cell centre counts every dot."""
    assert sum(_dot_errors(_counter(DiscSAM(), point_offset=0.5))) == 0
    assert sum(_dot_errors(_counter(DiscSAM(), point_offset=0.0))) == 15


def test_zero_objects_and_capped_crowds():
    model = _counter(DiscSAM())
    empty = np.full((64, 64, 3), 45, np.uint8)
    sample = _predict(model, empty)
    assert sample.pred_count.tolist() == [0.0] and len(sample.pred_instances) == 0
    image, points, _ = make_dot_image(0, seed=1, image_size=(96, 96), min_count=8,
                                      max_count=8, radius=4)
    capped = _counter(DiscSAM(), max_points=3)
    assert float(_predict(capped, image).pred_count[0]) == 3.0  # documented under-count


def test_exemplars_mix_into_the_score_map():
    sam = SAMWrapper(model_type='tiny')
    head = ZeroShotCountingHead(sam=sam, exemplar_weight=0.5)
    state = sam.set_image(torch.rand(3, 40, 60) * 255, original_size=(40, 60))
    similarity = head.exemplar_similarity(state, torch.tensor([[2.0, 2.0, 12.0, 10.0]]),
                                          (10, 15))
    assert similarity.shape == (10, 15) and bool((similarity >= 0).all())
    assert float(similarity.max()) <= 1.0 + 1e-5


def test_real_tiny_sam_end_to_end_shapes():
    model = _counter(SAMWrapper(model_type='tiny'), exemplar_weight=0.3)
    image, _, _ = make_dot_image(1, seed=0, image_size=(48, 64), max_count=5, radius=4)
    sample = OVDataSample(metainfo=dict(
        classnames=['red dot'], exemplar_bboxes=torch.tensor([[1.0, 1.0, 9.0, 9.0]])))
    batch = model.data_preprocessor(dict(inputs=[torch.from_numpy(image).permute(2, 0, 1)],
                                         data_samples=[sample]))
    out = model.predict(batch['inputs'], batch['data_samples'])[0]
    assert out.pred_count.shape == (1,) and out.pred_instances.masks.shape[1:] == (48, 64)
    assert out.metainfo['label_names'] == ['red dot']
    with pytest.raises(RuntimeError, match='training-free'):
        model.head.loss(None, None, [])


class SquareSAM(nn.Module):
    """SAM stand-in: one 4 x 4 square mask (inclusive box (x, y, x + 3, y + 3)) per point."""

    device = torch.device('cpu')

    def __init__(self, iou: float) -> None:
        super().__init__()
        self.iou = iou

    def predict(self, state, points, point_labels, multimask=True):
        masks = torch.zeros(len(points), 1, 16, 16, dtype=torch.bool)
        for index, (x, y) in enumerate(points[:, 0].long().tolist()):
            masks[index, 0, y:y + 4, x:x + 4] = True
        ious = torch.full((len(points), 1), self.iou)
        return SAMMasks(masks=masks, iou_scores=ious, low_res_logits=torch.zeros(0))


@pytest.mark.parametrize('min_box_area,kept', [(8.9, 1), (9.0, 0)])
def test_box_area_is_pseco_box_area_without_plus_one(min_box_area, kept):
    """PseCo filters ``torchvision.ops.box_area`` of SAM's inclusive boxes: a 4 x 4 mask has
    box (2, 2, 5, 5) and area 9 (16 with a +1), so ``area > 9`` drops it."""
    head = ZeroShotCountingHead(sam=SquareSAM(iou=1.0), score_threshold=0.0,
                                min_box_area=min_box_area, multimask=False)
    found = head.mask_proposals(None, torch.tensor([[2.0, 2.0]]), torch.ones(16, 16), (16, 16))
    assert len(found['scores']) == kept
    if kept:
        assert found['bboxes'].tolist() == [[2.0, 2.0, 5.0, 5.0]]


def test_score_equal_to_the_threshold_is_not_counted():
    """PseCo counts ``scores > thresh``: a score equal to the threshold is left out."""
    score_map = torch.full((16, 16), 0.5)
    for threshold, kept in ((0.5, 0), (0.49, 1)):
        head = ZeroShotCountingHead(sam=SquareSAM(iou=1.0), score_threshold=threshold,
                                    min_box_area=1, multimask=False)
        found = head.mask_proposals(None, torch.tensor([[2.0, 2.0]]), score_map, (16, 16))
        assert len(found['scores']) == kept
