"""CLIP-DINOiser's per-pixel background filter reads the map the labels come from.

``SaliencyFilteredHead(window_probabilities=False)`` with a ``score_refiner``: the labels are
the argmax of the refined probabilities, so the filter's confidence (top class probability
< delta) must be the refined one too. Known answer: a stub refiner that mirrors the maps
left-right moves the confident pixel; before the fix the filter tested the unrefined
cosines and kept / dropped the wrong pixels. ``seg_logits`` stay the refined probabilities
at filtered pixels (as at pixels ``prob_threshold`` relabels): the hover there reports the
background class's own probability. Without a refiner the per-pixel path is unchanged
(bit-identical outputs; the official path is golden-tested in test_golden_clip_dinoiser.py).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.refiners.dinoiser import CLIPDINOiserBackbone
from ovperception.models.refiners.pamr import PAMRRefiner
from ovperception.models.segmentation import SaliencyFilteredHead
from ovperception.models.stitched import StitchedWindows
from ovperception.structures import OVDataSample
from ovperception.webapp.summaries import describe_point
from tests.tiny import TINY_CLIP_KWARGS


class MirrorMaps(nn.Module):
    """Score refiner stub: ``(1, 3, H, W), (1, N, H, W) -> (1, N, H, W)`` mirrored
    left-right (pixel j takes the scores of pixel W-1-j)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, image: Tensor, scores: Tensor) -> Tensor:
        self.calls += 1
        return scores.flip(-1)


class SharpenMaps(nn.Module):
    """Score refiner stub: the scores times 4 (sharper probabilities, higher confidence)."""

    def forward(self, image: Tensor, scores: Tensor) -> Tensor:
        return scores * 4.0


def _text(names: list[str], dim: int = 2, seed: int | None = None) -> TextEmbeddings:
    vocab = Vocabulary.parse(names)
    if seed is None:   # identity embeddings: a pixel's cosines are its feature channels
        embeddings = torch.eye(len(vocab.names), dim)
    else:
        embeddings = F.normalize(torch.randn(len(vocab.names), dim,
                                             generator=torch.Generator().manual_seed(seed)), dim=1)
    return TextEmbeddings(vocab, embeddings, torch.tensor(vocab.name_to_class), 100.0)


# One row of 4 pixels, names (background, cat) at logit scale 1, delta 0.9: cosines
# [0, 5] are confident cat (p = 0.993), [0, 0.1] uncertain cat (p = 0.525).
CONFIDENT, UNCERTAIN = [0.0, 5.0], [0.0, 0.1]
COSINE = torch.tensor([CONFIDENT, UNCERTAIN, UNCERTAIN, UNCERTAIN]).T.reshape(2, 1, 4)
SALIENCY = torch.tensor([0.2, 0.2, 0.9, 0.2]).reshape(1, 1, 4)
# Refined (mirrored): [uncertain, uncertain, uncertain, confident]; every argmax is cat.
# Filtered = refined-uncertain and not salient: pixels 0 and 1. Pixel 2 is salient, pixel 3
# confident after refinement. The unrefined test (before the fix) gave [1, 0, 1, 0].
EXPECTED = [0, 0, 1, 1]


@pytest.mark.parametrize('refine_at', ['original', 'working'])
def test_filter_uses_the_refined_probabilities_known_answer(refine_at):
    refiner = MirrorMaps()
    head = SaliencyFilteredHead(logit_scale=1.0, confidence_threshold=0.9, background_index=0,
                                return_logits=True, score_refiner=refiner, refine_at=refine_at)
    text = _text(['background', 'cat'])
    sample = OVDataSample(metainfo=dict(ori_shape=(1, 4)))
    head.predict([torch.cat([COSINE, SALIENCY])], text, [sample],
                 images=[torch.rand(3, 1, 4) * 255])
    assert refiner.calls == 1
    assert sample.pred_sem_seg.data[0, 0].tolist() == EXPECTED
    # Stored scores: the refined probabilities everywhere, filtered pixels included.
    refined_probs = torch.softmax(COSINE.flip(-1), dim=0)
    torch.testing.assert_close(sample.seg_logits.data, refined_probs, atol=1e-6, rtol=0)


def test_without_a_refiner_the_filter_reads_the_stitched_cosines():
    """The same inputs without a refiner: the unrefined confidence decides ([1, 0, 1, 0])."""
    head = SaliencyFilteredHead(logit_scale=1.0, confidence_threshold=0.9, background_index=0,
                                return_logits=True)
    sample = OVDataSample(metainfo=dict(ori_shape=(1, 4)))
    head.predict([torch.cat([COSINE, SALIENCY])], _text(['background', 'cat']), [sample])
    assert sample.pred_sem_seg.data[0, 0].tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(sample.seg_logits.data, torch.softmax(COSINE, dim=0),
                               atol=1e-6, rtol=0)


def _stitched_case(text: TextEmbeddings) -> tuple[StitchedWindows, Tensor]:
    """Two overlapping windows of (N + 1, 6, 7) outputs over a 12x20 image, and the
    stitched (N + 1, 12, 20) map."""
    generator = torch.Generator().manual_seed(11)
    num_names = len(text.name_to_class)
    outputs = torch.randn(2, num_names + 1, 6, 7, generator=generator) * 0.3
    outputs[:, -1] = torch.rand(2, 6, 7, generator=generator)
    windows = StitchedWindows(outputs, [(0, 0, 12, 14), (0, 6, 12, 20)], (12, 20))
    return windows, windows.dense()


@pytest.mark.parametrize('background_index', [0, None])
def test_filter_matches_the_refined_labels_at_the_original_size(background_index):
    """Refined at ori_shape (18x30, above the 12x20 working size): labels are the refined
    argmax except where refined confidence < delta and the resized foreground <= 0.5, which
    become background; stored scores are the refined probabilities; the hover at a filtered
    pixel reports the background class's probability (or ``unlabelled``)."""
    text = _text(['background', 'cat', 'dog'], dim=3, seed=2)
    windows, dense = _stitched_case(text)
    head = SaliencyFilteredHead(logit_scale=10.0, confidence_threshold=0.9,
                                background_index=background_index, return_logits=True,
                                score_refiner=SharpenMaps())
    sample = OVDataSample(metainfo=dict(ori_shape=(18, 30)))
    head.predict([windows], text, [sample], images=[torch.rand(3, 12, 20) * 255])

    resized = F.interpolate(dense[None], size=(18, 30), mode='bilinear', align_corners=False)[0]
    refined_probs = torch.softmax(resized[:-1] * 4.0 * 10.0, dim=0)        # (3, 18, 30)
    unrefined_probs = torch.softmax(resized[:-1] * 10.0, dim=0)
    not_salient = resized[-1] <= 0.5
    filtered = (refined_probs.max(dim=0).values < 0.9) & not_salient
    filtered_before = (unrefined_probs.max(dim=0).values < 0.9) & not_salient
    assert bool(filtered.any()) and int((filtered != filtered_before).sum()) > 10

    background = 255 if background_index is None else background_index
    expected = refined_probs.argmax(dim=0).masked_fill(filtered, background)
    labels = sample.pred_sem_seg.data[0]
    assert torch.equal(labels, expected)
    torch.testing.assert_close(sample.seg_logits.data, refined_probs, atol=1e-5, rtol=0)
    row, col = (int(v) for v in torch.nonzero(filtered & (refined_probs.argmax(0) != 0))[0])
    hover = describe_point('segmentation', sample, col, row)
    if background_index is None:
        assert hover == f'({col}, {row}): unlabelled'
    else:
        score = float(sample.seg_logits.data[0, row, col])
        assert hover == f'({col}, {row}): background, score {score:.3f}'
        assert score < float(sample.seg_logits.data[:, row, col].max())


def test_filtered_and_thresholded_pixels_keep_their_scores_alike():
    """``prob_threshold`` relabelling and the filter treat stored scores the same way: both
    relabel, neither rewrites ``seg_logits`` (the refined probabilities)."""
    text = _text(['background', 'cat', 'dog'], dim=3, seed=2)
    windows, dense = _stitched_case(text)
    head = SaliencyFilteredHead(logit_scale=10.0, confidence_threshold=0.9, background_index=0,
                                prob_threshold=0.8, return_logits=True,
                                score_refiner=SharpenMaps(), refine_at='working')
    sample = OVDataSample(metainfo=dict(ori_shape=(12, 20)))
    head.predict([windows], text, [sample], images=[torch.rand(3, 12, 20) * 255])
    refined_probs = torch.softmax(dense[:-1] * 40.0, dim=0)
    best, argmax = refined_probs.max(dim=0)
    thresholded = best < 0.8
    filtered = (best < 0.9) & (dense[-1] <= 0.5)
    assert bool((thresholded & ~filtered).any()) and bool((filtered & ~thresholded).any())
    expected = argmax.masked_fill(thresholded | filtered, 0)
    assert torch.equal(sample.pred_sem_seg.data[0], expected)
    torch.testing.assert_close(sample.seg_logits.data, refined_probs, atol=1e-5, rtol=0)


def test_ovmodel_with_pamr_filters_by_the_refined_scores():
    """End to end: a tiny CLIP-DINOiser (foreground channel appended) with the real PAMR as
    the head's refiner, ori_shape above the working size. Every pixel keeps the argmax of the
    stored (refined, at ori_shape) probabilities unless its refined top probability is below
    delta (no pixel is salient at ``saliency_threshold=1``): then it is background."""
    torch.manual_seed(0)
    clip = OpenCLIPBackbone('ViT-B-16', None, dense_mode='maskclip',
                            model_kwargs=TINY_CLIP_KWARGS)
    backbone = CLIPDINOiserBackbone(clip, feature_layer=0, proj_channels=8,
                                    append_saliency=True)
    refiner = PAMRRefiner(num_iter=2, dilations=(1, 2))
    head = SaliencyFilteredHead(logit_scale=40.0, background_index=0, return_logits=True,
                                confidence_threshold=0.6, saliency_threshold=1.0,
                                score_refiner=refiner)
    model = OVModel(backbone, head, template_set='single',
                    test_cfg=dict(mode='slide', crop_size=64, stride=32)).eval()
    image = torch.randint(0, 256, (3, 40, 72), generator=torch.Generator().manual_seed(4),
                          dtype=torch.uint8)
    samples = [OVDataSample(metainfo=dict(classnames=['background', 'cat', 'dog'],
                                          ori_shape=(60, 90)))]
    out = model.test_step(dict(inputs=[image], data_samples=samples))[0]
    labels, probs = out.pred_sem_seg.data[0], out.seg_logits.data
    assert labels.shape == probs.shape[-2:] == (60, 90)
    best, argmax = probs.max(dim=0)
    relabelled = labels != argmax
    assert bool(relabelled.any()) and bool((~relabelled).any())
    # saliency_threshold 1.0: no pixel is salient, so exactly the refined-uncertain ones go
    assert torch.equal(labels, argmax.masked_fill(best < 0.6, 0))
