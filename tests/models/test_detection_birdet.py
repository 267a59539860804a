"""BIRDet pieces: overlap ratio and POS against naive loops, background modelling by hand."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.detection.birdet import (background_embeddings, classify_embeddings,
                                                  image_descriptor, overlap_ratio,
                                                  partial_object_suppression)


def _naive_ratio(a, b, mode):
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    denom = area_a if mode == 'candidate' else min(area_a, area_b)
    return inter_w * inter_h / denom if denom > 0 else 0.0


def _naive_pos(boxes, scores, labels, threshold, mode):
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if not any(labels[j] == labels[i] and _naive_ratio(boxes[i], boxes[j], mode) >= threshold
                   for j in kept):
            kept.append(i)
    return kept


def _random_boxes(generator, num):
    xy = torch.rand(num, 2, generator=generator) * 80
    wh = torch.rand(num, 2, generator=generator) * 40
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize('mode', ['candidate', 'min'])
def test_overlap_ratio_matches_naive_loop(mode):
    generator = torch.Generator().manual_seed(0)
    a, b = _random_boxes(generator, 7), _random_boxes(generator, 5)
    a[0] = torch.tensor([3.0, 3.0, 3.0, 9.0])  # degenerate: zero width
    ratio = overlap_ratio(a, b, mode)
    for i in range(len(a)):
        for j in range(len(b)):
            assert ratio[i, j].item() == pytest.approx(
                _naive_ratio(a[i].tolist(), b[j].tolist(), mode), abs=1e-5)
    assert (ratio[0] == 0).all()


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('mode', ['candidate', 'min'])
@pytest.mark.parametrize('threshold', [0.5, 0.8])
def test_pos_matches_naive_greedy_loop(seed, mode, threshold):
    generator = torch.Generator().manual_seed(seed)
    boxes = _random_boxes(generator, 40)
    # shrunken copies (parts inside objects) so that suppression actually happens
    boxes[20:] = boxes[:20] + torch.rand(20, 1, generator=generator) * torch.tensor(
        [1.0, 1.0, -1.0, -1.0])
    scores = torch.rand(40, generator=generator).round(decimals=1)  # ties included
    labels = torch.randint(0, 3, (40,), generator=generator)
    kept = partial_object_suppression(boxes, scores, labels, threshold, mode)
    expected = _naive_pos(boxes.tolist(), scores.tolist(), labels.tolist(), threshold, mode)
    assert kept.tolist() == expected
    assert len(expected) < 40


def test_pos_hand_made_partial_objects():
    car = [0.0, 0.0, 100.0, 50.0]
    wheel = [10.0, 30.0, 30.0, 50.0]  # IoU with the car 0.08, fully inside it
    boxes = torch.tensor([car, wheel, wheel])
    scores = torch.tensor([0.9, 0.6, 0.5])
    labels = torch.tensor([0, 0, 1])  # the third box is another class
    assert partial_object_suppression(boxes, scores, labels, 0.8).tolist() == [0, 2]
    # a higher-scoring part keeps the whole object in 'candidate' mode, not in 'min' mode
    scores = torch.tensor([0.5, 0.9, 0.1])
    assert partial_object_suppression(boxes, scores, labels, 0.8, 'candidate').tolist() == [1, 0, 2]
    assert partial_object_suppression(boxes, scores, labels, 0.8, 'min').tolist() == [1, 2]
    # threshold above 1 disables suppression; empty input
    assert len(partial_object_suppression(boxes, scores, labels, 1.01)) == 3
    assert partial_object_suppression(torch.zeros(0, 4), torch.zeros(0),
                                      torch.zeros(0, dtype=torch.long)).numel() == 0


def _text(classnames, background_words, embeddings):
    vocabulary = Vocabulary.parse(classnames, background_words)
    return TextEmbeddings(vocabulary, F.normalize(embeddings, dim=-1),
                          torch.tensor(vocabulary.name_to_class), 100.0)


def _basis(dim=6):
    return torch.eye(dim)


def test_background_embeddings_per_image_versus_fixed():
    e = _basis()
    # classes: cat (e0), dog (e1); background words: sky (e2), wall (e3), grass (e4)
    text = _text(['cat', 'dog'], ['sky', 'wall', 'grass'], e[:5])
    descriptor = F.normalize(0.9 * e[3] + 0.3 * e[4] + 0.1 * e[2], dim=0)  # an indoor image
    chosen = background_embeddings(text, descriptor, 'image', top_k=2)
    assert torch.allclose(chosen, torch.stack([e[3], e[4]]))
    fixed = background_embeddings(text, descriptor, 'fixed')
    assert torch.allclose(fixed, F.normalize((e[2] + e[3] + e[4])[None] / 3, dim=-1))
    assert background_embeddings(text, descriptor, 'none').shape == (0, 6)
    no_words = _text(['cat', 'dog'], [], torch.stack([e[0], e[1]]))
    with pytest.raises(ValueError, match='background words'):
        background_embeddings(no_words, descriptor, 'image')
    with pytest.raises(ValueError, match='background mode'):
        background_embeddings(text, descriptor, 'learned')


def test_image_conditioned_background_suppresses_a_background_region():
    e = _basis()
    text = _text(['cat', 'dog'], ['sky', 'wall', 'grass'], e[:5])
    wall_region = F.normalize(e[3] + 0.35 * e[0], dim=0)[None]  # a wall that looks a bit like a cat
    descriptor = e[3]
    per_image = background_embeddings(text, descriptor, 'image', top_k=1)
    fixed = background_embeddings(text, descriptor, 'fixed')
    cat_image, bg_image = classify_embeddings(wall_region, text, per_image, 10.0)
    cat_fixed, bg_fixed = classify_embeddings(wall_region, text, fixed, 10.0)
    cat_none, _ = classify_embeddings(wall_region, text, per_image[:0], 10.0)
    assert bg_image.item() > 0.9 and cat_image[0, 0].item() < 0.1
    assert bg_fixed.item() < bg_image.item() and cat_fixed[0, 0] > cat_image[0, 0]
    assert cat_none[0, 0].item() > 0.9  # without background the wall is called a cat


def test_classify_embeddings_matches_formula_with_synonyms():
    generator = torch.Generator().manual_seed(0)
    embeddings = F.normalize(torch.randn(5, 8, generator=generator), dim=-1)
    text = _text(['cat; kitten', 'dog'], ['sky', 'wall'], embeddings)
    regions = torch.randn(4, 8, generator=generator)
    background = embeddings[3:]
    probs, bg = classify_embeddings(regions, text, background, 30.0)
    cos = F.normalize(regions, dim=-1) @ embeddings.T  # names: cat, kitten, dog, sky, wall
    softmax = torch.softmax(30.0 * cos, dim=-1)
    expected = torch.stack([softmax[:, :2].max(dim=1).values, softmax[:, 2]], dim=1)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(bg, softmax[:, 3:].sum(dim=1), atol=1e-6)


def test_image_descriptor_is_the_normalised_mean_direction():
    features = torch.zeros(3, 2, 2)
    features[0] = 5.0  # magnitudes do not matter, directions do
    features[1, 0, 0] = 1.0
    descriptor = image_descriptor(features)
    assert descriptor.norm().item() == pytest.approx(1.0)
    assert descriptor[0] > descriptor[1] > 0 and descriptor[2] == 0
