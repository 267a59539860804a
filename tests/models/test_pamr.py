"""PAMR: vectorised implementation against the formula, known answers, and in the model."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from ovperception.models.refiners import pamr as pamr_module
from ovperception.models.refiners.pamr import (PAMRRefiner, neighbour_offsets, pamr,
                                               pamr_affinity, shifted)
from ovperception.structures import OVDataSample
from tests.tiny import TINY_BACKBONE


def naive_pamr(image, masks, num_iter, dilations, sigma_scale=0.1, eps=1e-8):
    """Per-pixel loops straight from the formula (clamped coordinates = replicate padding)."""
    _, channels, height, width = image.shape
    image, masks = image[0].double(), masks[0].double()

    def at(tensor, y, x):
        return tensor[:, min(max(y, 0), height - 1), min(max(x, 0), width - 1)]

    steps = [(dy, dx) for dy, dx in itertools.product((-1, 0, 1), repeat=2)]
    kernels = {}
    for y, x in itertools.product(range(height), range(width)):
        window = torch.stack([at(image, y + dy * d, x + dx * d)
                              for d in dilations for dy, dx in steps], dim=1)  # (C, 9D)
        sigma = window.std(dim=1)
        logits = []
        for d in dilations:
            for dy, dx in steps:
                if (dy, dx) == (0, 0):
                    continue
                diff = (image[:, y, x] - at(image, y + dy * d, x + dx * d)).abs()
                logits.append(float((-diff / (sigma_scale * sigma + eps)).sum()) / channels)
        kernels[y, x] = torch.softmax(torch.tensor(logits, dtype=torch.float64), dim=0)
    for _ in range(num_iter):
        new = torch.zeros_like(masks)
        for y, x in itertools.product(range(height), range(width)):
            index = 0
            for d in dilations:
                for dy, dx in steps:
                    if (dy, dx) == (0, 0):
                        continue
                    new[:, y, x] += kernels[y, x][index] * at(masks, y + dy * d, x + dx * d)
                    index += 1
        masks = new
    return masks[None]


def previous_pamr(image, masks, num_iter, dilations):
    """The earlier vectorised form: all classes per step, a fresh replicate pad per step."""
    affinity = pamr_affinity(image, dilations)
    offsets = neighbour_offsets(dilations)
    out = masks.float()
    for _ in range(num_iter):
        refined = torch.zeros_like(out)
        for index, neighbour in enumerate(shifted(out, offsets)):
            refined.addcmul_(affinity[:, index:index + 1], neighbour)
        out = refined
    return out


@pytest.mark.parametrize('chunk_elements', [1, 3 * 40 * 52, 10 ** 9, None])
def test_chunked_fast_path_equals_the_previous_implementation(chunk_elements):
    generator = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 40, 52, generator=generator) * 255
    masks = torch.randn(2, 7, 40, 52, generator=generator)
    expected = previous_pamr(image, masks, 10, (8, 16))
    fast = pamr(image, masks, 10, (8, 16), chunk_elements=chunk_elements)
    # Same operations in the same order per value: equal up to float noise (bitwise on CPU).
    torch.testing.assert_close(fast, expected, rtol=0, atol=1e-6)
    small = torch.rand(1, 3, 5, 9, generator=generator)  # smaller than the padding (16)
    small_masks = torch.randn(1, 4, 5, 9, generator=generator)
    torch.testing.assert_close(pamr(small, small_masks, 3, (8, 16), chunk_elements=chunk_elements),
                               previous_pamr(small, small_masks, 3, (8, 16)), rtol=0, atol=1e-6)


def test_zero_iterations_and_dtype():
    masks = torch.rand(1, 3, 6, 6)
    out = pamr(torch.rand(1, 3, 6, 6), masks, num_iter=0)
    assert torch.equal(out, masks) and out is not masks
    doubled = pamr(torch.rand(1, 3, 6, 6), masks.double(), num_iter=2, dilations=(1,))
    assert doubled.dtype == torch.float64


def test_vectorised_equals_naive_loop():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 6, 7, generator=generator) * 255
    masks = torch.rand(1, 3, 6, 7, generator=generator)
    fast = pamr(image, masks, num_iter=2, dilations=(1, 2))
    slow = naive_pamr(image, masks, num_iter=2, dilations=(1, 2))
    assert torch.allclose(fast.double(), slow, atol=1e-5)


def test_constant_image_gives_a_neighbourhood_average():
    image = torch.full((1, 3, 5, 6), 100.0)
    masks = torch.rand(1, 2, 5, 6, generator=torch.Generator().manual_seed(1))
    out = pamr(image, masks, num_iter=1, dilations=(1,))
    weight = torch.ones(2, 1, 3, 3) / 8
    weight[:, :, 1, 1] = 0
    expected = F.conv2d(F.pad(masks, (1, 1, 1, 1), mode='replicate'), weight, groups=2)
    assert torch.allclose(out, expected, atol=1e-6)
    constant = torch.full((1, 2, 5, 6), 0.25)
    noisy_image = torch.rand(1, 3, 5, 6) * 255
    assert torch.allclose(pamr(noisy_image, constant, num_iter=3), constant, atol=1e-6)


def test_image_smaller_than_the_dilation():
    image = torch.rand(2, 3, 3, 4) * 255
    masks = torch.softmax(torch.randn(2, 4, 3, 4), dim=1)
    out = pamr(image, masks, num_iter=10, dilations=(8, 16))
    assert out.shape == masks.shape and torch.isfinite(out).all()
    assert torch.allclose(out.sum(dim=1), torch.ones(2, 3, 4), atol=1e-5)  # convex combos
    slow = naive_pamr(image[:1], masks[:1], num_iter=2, dilations=(8, 16))
    assert torch.allclose(pamr(image[:1], masks[:1], 2, (8, 16)).double(), slow, atol=1e-5)


def test_refinement_recovers_a_two_region_image():
    generator = torch.Generator().manual_seed(0)
    height, width = 48, 48
    truth = torch.zeros(height, width, dtype=torch.long)
    truth[:, 20:] = 1
    truth[10:30, 5:15] = 1
    colours = torch.tensor([[30.0, 60.0, 200.0], [220.0, 180.0, 40.0]])
    image = colours[truth].permute(2, 0, 1)[None]
    image = image + 8 * torch.randn(image.shape, generator=generator)
    onehot = F.one_hot(truth, 2).permute(2, 0, 1)[None].float()
    coarse = F.interpolate(F.avg_pool2d(onehot, 16), size=(height, width), mode='bilinear',
                           align_corners=False)
    coarse = coarse + 0.3 * torch.randn(coarse.shape, generator=generator)
    before = (coarse.argmax(dim=1)[0] == truth).float().mean().item()
    refined = PAMRRefiner(num_iter=10, dilations=(1, 2, 4, 8))(image, coarse)
    after = (refined.argmax(dim=1)[0] == truth).float().mean().item()
    assert after > before + 0.10, (before, after)


def test_out_of_memory_is_caught(monkeypatch):
    def oom(*args, **kwargs):
        raise RuntimeError('CUDA out of memory. Tried to allocate 1 GiB')

    monkeypatch.setattr(pamr_module, 'pamr', oom)
    scores = torch.rand(1, 2, 4, 4)
    with pytest.warns(RuntimeWarning, match='out of memory'):
        assert PAMRRefiner()(torch.rand(1, 3, 4, 4), scores) is scores


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError):
        pamr(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 5, 4))
    with pytest.raises(ValueError):
        PAMRRefiner(dilations=())


def _tiny_model(**head):
    from mmengine.registry import init_default_scope

    from ovperception.registry import MODELS
    init_default_scope('ovperception')
    torch.manual_seed(0)
    return MODELS.build(dict(type='OVModel', backbone=TINY_BACKBONE, template_set='single',
                             head=dict(type='DenseSimilarityHead', **head),
                             test_cfg=dict(mode='slide', crop_size=64, stride=32))).eval()


def _batch():
    generator = torch.Generator().manual_seed(0)
    shapes = [(70, 90), (64, 50)]
    vocab = ['cat', 'dog', 'sky']
    inputs = [torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
              for h, w in shapes]
    samples = [OVDataSample(metainfo=dict(classnames=vocab, ori_shape=(2 * h, 2 * w)))
               for h, w in shapes]
    return dict(inputs=inputs, data_samples=samples)


def test_model_with_pamr_predicts_a_batch_of_two():
    pamr_cfg = dict(type='PAMRRefiner', num_iter=10, dilations=(8, 16))
    model = _tiny_model(score_refiner=pamr_cfg, return_logits=True)
    assert model.head.uses_images
    out = model.test_step(_batch())
    plain = _tiny_model(return_logits=True).test_step(_batch())
    assert len(out) == 2
    for sample, reference, (h, w) in zip(out, plain, [(70, 90), (64, 50)]):
        assert sample.pred_sem_seg.data.shape == (1, 2 * h, 2 * w)
        # refine_at='original' (NACLIP's order): refined, hence stored, at ori_shape
        assert sample.seg_logits.data.shape == (3, 2 * h, 2 * w)
        assert reference.seg_logits.data.shape == (3, h, w)


def test_pamr_runs_at_the_original_size_by_default_as_naclip():
    """Official order: cosine maps and image resized to ori_shape, PAMR there, then softmax."""
    pamr_cfg = dict(type='PAMRRefiner', num_iter=3, dilations=(1, 2))
    original = _tiny_model(score_refiner=pamr_cfg, return_logits=True).test_step(_batch())
    working = _tiny_model(score_refiner=pamr_cfg, return_logits=True,
                          refine_at='working').test_step(_batch())
    plain = _tiny_model(return_logits=True).test_step(_batch())
    model = _tiny_model()
    batch = model.data_preprocessor(_batch())
    encoded = model.encode_images(batch['inputs'], batch['data_samples'])
    text = model.encode_vocabulary(['cat', 'dog', 'sky'])
    for index, (h, w) in enumerate([(70, 90), (64, 50)]):
        cosine = model.stitched_output(encoded, index, text).dense()
        big = F.interpolate(cosine[None], size=(2 * h, 2 * w), mode='bilinear',
                            align_corners=False)
        image = F.interpolate(batch['inputs'][index:index + 1, :, :h, :w],
                              size=(2 * h, 2 * w), mode='bilinear', align_corners=False)
        expected = pamr(image, big, 3, (1, 2))[0]
        probs = torch.softmax(expected * text.logit_scale, dim=0)
        assert torch.allclose(original[index].seg_logits.data, probs, atol=1e-5)
        assert working[index].seg_logits.data.shape == (3, h, w)
        assert not torch.allclose(working[index].seg_logits.data, plain[index].seg_logits.data)
    with pytest.raises(ValueError, match='refine_at'):
        _tiny_model(refine_at='input')


def test_post_head_refiner_uses_the_stored_probabilities():
    model = _tiny_model(return_logits=True)
    model.refiners.append(PAMRRefiner(num_iter=2, dilations=(1, 2)))
    out = model.test_step(_batch())
    assert out[0].pred_sem_seg.data.shape == (1, 140, 180)
    with pytest.raises(ValueError, match='return_logits'):
        PAMRRefiner().refine([torch.rand(3, 4, 4)], [OVDataSample()])


def test_demo_pamr_flag_enables_the_head_refiner(tmp_path, monkeypatch):
    import importlib.util
    import os

    import numpy as np
    from PIL import Image

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        'image_demo_pamr', os.path.join(root, 'demo', 'image_demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    config = os.path.join(root, 'configs', 'tiny', 'seg_tiny.py')
    args = demo.parse_args(['x.png', '--vocab', 'a,b', '--out', str(tmp_path), '--config',
                            config, '--pamr'])
    assert demo.build_predictor(args).model.head.uses_images
    image = tmp_path / 'img.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
                    ).save(image)
    assert demo.main([str(image), '--vocab', 'cat,dog', '--config', config, '--pamr',
                      '--out', str(tmp_path / 'out')]) == 0
    labels = np.asarray(Image.open(tmp_path / 'out' / 'img_labels.png'))
    assert labels.shape == (40, 56)


def test_wrapped_refined_map_skips_the_stitching_but_gives_the_same_values():
    from ovperception.models.stitched import StitchedWindows
    dense = torch.randn(5, 9, 13, generator=torch.Generator().manual_seed(4))
    wrapped = StitchedWindows.from_dense(dense)
    general = StitchedWindows(dense[None], [(0, 0, 9, 13)], (9, 13), feature_stride=1)
    assert wrapped.is_plain_dense and not general.is_plain_dense
    assert torch.equal(wrapped.dense(), dense)
    for size in [(9, 13), (12, 20)]:
        fast = wrapped.map_rows(size, lambda c: c.max(dim=-1)[1], max_elements=40)
        slow = general.map_rows(size, lambda c: c.max(dim=-1)[1], max_elements=40)
        assert torch.equal(fast, slow)
    torch.testing.assert_close(wrapped.map_rows(None, max_elements=40),
                               general.map_rows(None), rtol=0, atol=1e-6)
