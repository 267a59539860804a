"""Stored scores come from the same (refined) maps as the labels, for every similarity head.

Known answer: a stub score refiner swaps the maps of the first two names, which changes the
argmax wherever one of them wins. After the head, the label of every pixel must be the class
whose *refined* probability is highest there, and ``seg_logits`` (what the web app's hover and
region scores, the SAM refiner's prompts and the post-head PAMR read) must be the refined
probabilities: the stored score at the stored label equals the maximum over classes. Before
the fix, CASS stored the unrefined probabilities, i.e. at the swapped pixels the score of the
class that lost. The stub is a plain module handed to the head, registered nowhere.
"""
from __future__ import annotations

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.segmentation import CASSHead, DenseSimilarityHead
from ovperception.models.stitched import StitchedWindows
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from ovperception.webapp.summaries import describe_point
from tests.tiny import TINY_BACKBONE

CLASSNAMES = ['cat', 'dog', 'sky']
SCALE = 40.0


class SwapFirstTwoMaps(nn.Module):
    """Score refiner stub: ``(1, 3, H, W), (1, N, H, W) -> (1, N, H, W)`` with the maps of
    names 0 and 1 exchanged (so the labels 0 and 1 trade places)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, image: Tensor, scores: Tensor) -> Tensor:
        self.calls += 1
        order = [1, 0, *range(2, scores.shape[1])]
        return scores[:, order]


def _text(dim: int = 8) -> TextEmbeddings:
    vocab = Vocabulary.parse(CLASSNAMES)
    generator = torch.Generator().manual_seed(3)
    embeddings = nn.functional.normalize(torch.randn(len(vocab.names), dim,
                                                     generator=generator), dim=1)
    return TextEmbeddings(vocab, embeddings, torch.tensor(vocab.name_to_class), 100.0)


def _features(channels: int, size: tuple[int, int] = (6, 7)) -> Tensor:
    """(1, channels, h, w) seeded random window features."""
    return torch.randn(1, channels, *size, generator=torch.Generator().manual_seed(5))


def assert_scores_belong_to_labels(sample: OVDataSample, expected_probs: Tensor) -> None:
    """Stored probabilities equal ``expected_probs`` (K, H, W) and the score at every
    pixel's label is the maximum of those probabilities there."""
    labels = sample.pred_sem_seg.data[0].long()
    probs = sample.seg_logits.data
    assert probs.shape == expected_probs.shape
    torch.testing.assert_close(probs, expected_probs, atol=1e-6, rtol=0)
    at_label = probs.gather(0, labels[None])[0]
    assert torch.equal(at_label, probs.max(dim=0).values)
    assert torch.equal(labels, expected_probs.argmax(dim=0))


def _swapped_pixels(cosine: Tensor) -> Tensor:
    """(H, W) bool: where the unrefined argmax is name 0 or 1 (labels the stub changes)."""
    return cosine.argmax(dim=0) < 2


@pytest.mark.parametrize('refine_at', ['original', 'working'])
def test_similarity_head_scores_come_from_the_refined_maps(refine_at):
    text = _text()
    refiner = SwapFirstTwoMaps()
    head = DenseSimilarityHead(logit_scale=SCALE, return_logits=True, score_refiner=refiner,
                               refine_at=refine_at)
    cosine = head(_features(8), text)[0]                         # (N, h, w)
    size = tuple(cosine.shape[-2:])
    sample = OVDataSample(metainfo=dict(ori_shape=size))
    head.predict([cosine], text, [sample], images=[torch.rand(3, *size) * 255])
    assert refiner.calls == 1
    refined = cosine[[1, 0, 2]]
    assert bool(_swapped_pixels(cosine).any())              # the stub moves labels
    assert_scores_belong_to_labels(sample, head.class_probabilities(refined, text))


@pytest.mark.parametrize('refine_at', ['original', 'working'])
def test_cass_scores_come_from_the_refined_maps(refine_at):
    """Failed before the fix: CASS stored softmax(40 * unrefined cosine) beside the labels of
    the refined map, so at the swapped pixels the stored label's score was not the maximum."""
    text = _text()
    refiner = SwapFirstTwoMaps()
    head = CASSHead(logit_scale=SCALE, global_source='window', return_logits=True,
                    score_refiner=refiner, refine_at=refine_at)
    features = _features(16, (4, 5))                              # (1, 2C, h, w), one window
    image_size = (16, 20)                                         # patch 4, the window's size
    window = StitchedWindows(features, [(0, 0, *image_size)], image_size)
    sample = OVDataSample(metainfo=dict(ori_shape=(24, 30)))      # labels at ori_shape
    head.predict([window], text, [sample], images=[torch.rand(3, *image_size) * 255])
    assert refiner.calls == 1
    cosine = head.window_cosines(features, text, None)            # (1, N, h, w)
    unrefined = nn.functional.interpolate(StitchedWindows(cosine, window.windows, image_size)
                                          .dense()[None], size=(24, 30), mode='bilinear',
                                          align_corners=False)[0]
    assert bool(_swapped_pixels(unrefined).any())
    assert sample.pred_sem_seg.data.shape == (1, 24, 30)
    labels = sample.pred_sem_seg.data[0]
    probs = sample.seg_logits.data
    assert probs.shape == (3, 24, 30)
    assert torch.equal(probs.gather(0, labels[None].long())[0], probs.max(dim=0).values)
    if refine_at == 'original':   # refined at ori_shape, as the release's PAMR
        assert_scores_belong_to_labels(sample, head.class_probabilities(unrefined[[1, 0, 2]],
                                                                        text))


def test_cass_without_a_refiner_keeps_its_scores_at_the_original_size():
    """No refiner: the probabilities of the whole map resized to ori_shape (the release's
    ``seg_logits``; golden-tested in test_golden_cass.py), and ``logits_max_side`` shrinks
    them as for the other heads."""
    text = _text()
    features = _features(16, (4, 5))
    window = StitchedWindows(features, [(0, 0, 16, 20)], (16, 20))
    cosine = CASSHead(global_source='window').window_cosines(features, text, None)
    dense = StitchedWindows(cosine, window.windows, (16, 20)).dense()
    for max_side, size in ((None, (24, 30)), (15, (12, 15))):
        head = CASSHead(logit_scale=SCALE, global_source='window', return_logits=True,
                        logits_max_side=max_side)
        sample = OVDataSample(metainfo=dict(ori_shape=(24, 30)))
        head.predict([window], text, [sample])
        resized = nn.functional.interpolate(dense[None], size=size, mode='bilinear',
                                            align_corners=False)[0]
        torch.testing.assert_close(sample.seg_logits.data,
                                   head.class_probabilities(resized, text), atol=1e-6, rtol=0)
        assert sample.pred_sem_seg.data.shape == (1, 24, 30)


def _tiny_cass_model():
    init_default_scope('ovperception')
    cfg = Config.fromfile('configs/_base_/models/tiny_cass.py')
    cfg.model.head.update(return_logits=True)
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


def _tiny_similarity_model():
    init_default_scope('ovperception')
    torch.manual_seed(0)
    return MODELS.build(dict(type='OVModel', backbone=TINY_BACKBONE, template_set='single',
                             head=dict(type='DenseSimilarityHead', return_logits=True),
                             test_cfg=dict(mode='slide', crop_size=64, stride=32))).eval()


def _batch() -> dict:
    image = torch.randint(0, 256, (3, 70, 90), generator=torch.Generator().manual_seed(0),
                          dtype=torch.uint8)
    return dict(inputs=[image], data_samples=[OVDataSample(metainfo=dict(
        classnames=CLASSNAMES, ori_shape=(84, 108)))])


@pytest.mark.parametrize('build', [_tiny_cass_model, _tiny_similarity_model],
                         ids=['cass', 'similarity'])
def test_model_outputs_and_hover_scores_follow_the_refined_labels(build):
    """Through OVModel (ori_shape above the working size, refined there): the labels move
    where the stub swaps, and the stored score at every pixel's label, and the score the web
    app's hover reports, is the maximum of the refined probabilities."""
    model = build()
    torch.manual_seed(0)  # CASS's randomised SVD draws from the global generator
    plain = model.test_step(_batch())[0]
    model.head.score_refiner = SwapFirstTwoMaps()
    torch.manual_seed(0)
    refined = model.test_step(_batch())[0]
    assert model.head.score_refiner.calls == 1
    labels, probs = refined.pred_sem_seg.data[0], refined.seg_logits.data
    assert probs.shape[-2:] == labels.shape == (84, 108)
    before = plain.pred_sem_seg.data[0]
    swap = torch.tensor([1, 0, 2])
    assert bool((before < 2).any()) and torch.equal(labels, swap[before])
    best = probs.max(dim=0).values
    assert torch.equal(probs.gather(0, labels[None].long())[0], best)
    if plain.seg_logits.data.shape == probs.shape:  # CASS: both at ori_shape
        torch.testing.assert_close(probs, plain.seg_logits.data[swap], atol=1e-5, rtol=0)
    row, col = (int(v) for v in torch.nonzero(before < 2)[0])
    hover = describe_point('segmentation', refined, col, row)
    assert hover.endswith(f', score {float(best[row, col]):.3f}'), hover


def test_trident_sam_refinement_reads_the_refined_probabilities(monkeypatch):
    """TridentHead hands SAM the class probabilities of the refined map the coarse labels come
    from (official Trident: PAMR, softmax, then ``sam_refinement`` on those probabilities).
    Failed before the fix without ``return_logits``: the probabilities of the unrefined map."""
    from ovperception.models.segmentation import trident
    from tests.tiny_sam import TINY_SAM

    seen = []

    def record(image, sample, sam, options, *, state=None, probs=None):
        seen.append((sample.pred_sem_seg.data[0].clone(), probs.clone()))
        return sample

    monkeypatch.setattr(trident, 'refine_sem_seg_with_sam', record)
    init_default_scope('ovperception')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='OVModel', backbone=TINY_BACKBONE, template_set='single',
        head=dict(type='TridentHead', sam=TINY_SAM, logit_scale=SCALE,
                  aggregation=dict(grid_stride=16), sam_refine=dict(min_area=4)),
        test_cfg=dict(mode='slide', crop_size=64, stride=32))).eval()
    model.head.score_refiner = SwapFirstTwoMaps()
    metainfo = dict(classnames=CLASSNAMES, img_shape=(64, 96), ori_shape=(64, 96))
    model.predict(torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(1)),
                  [OVDataSample(metainfo=metainfo)])
    assert model.head.score_refiner.calls == 1 and len(seen) == 1
    labels, probs = seen[0]
    assert probs.shape == (3, 64, 96) and bool((labels < 2).any())
    assert torch.equal(probs.gather(0, labels[None].long())[0], probs.max(dim=0).values)
