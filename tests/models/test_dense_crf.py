"""DenseCRF against ExCEL's official crf_proc (golden fixture), its options and errors."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from ovperception.models.refiners.dense_crf import (DENSE_CRF_DEFAULTS, DenseCRF,
                                                    check_dense_crf_cfg, image_to_uint8)
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'golden', 'excel',
                      'excel_crf_golden.npz')


def golden_case(name: str) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """((3, H, W) uint8 image as our loader gives it, (1, K, h, w) msc logits, official (K, H, W)
    marginals, official (H, W) labels)."""
    golden = np.load(GOLDEN)
    image = torch.from_numpy(golden[f'{name}_image'])
    image = image.permute(2, 0, 1) if image.dim() == 3 else image[None].expand(3, -1, -1)
    return (image.contiguous(), torch.from_numpy(golden[f'{name}_logits']),
            golden[f'{name}_marginals'], golden[f'{name}_labels'])


@pytest.mark.parametrize('name', ['rgb', 'gray'])
def test_matches_the_official_crf_proc(name: str) -> None:
    """crf_proc: logits resized to the image (bilinear), softmax, utils/dcrf.py DenseCRF
    (10, 1/3, 67/3/4) on the uint8 image, argmax (NOTE_crf.md)."""
    image, logits, marginals, labels = golden_case(name)
    probs = F.interpolate(logits, size=image.shape[-2:], mode='bilinear',
                          align_corners=False)[0].softmax(0)
    ours = DenseCRF()(image, probs)
    assert ours.dtype == torch.float32 and ours.shape == marginals.shape
    np.testing.assert_allclose(ours.numpy(), marginals, rtol=0, atol=1e-6)
    assert (ours.argmax(0).numpy() == labels).all()
    plain = probs.argmax(0).numpy()
    assert (plain != labels).mean() > 0.1   # the CRF changes labels: the test can fail
    # a float image (e.g. denormalised) is rounded to the same uint8 image
    torch.testing.assert_close(DenseCRF()(image.float() + 0.3, probs), ours, rtol=0, atol=0)


def test_options_change_the_result_and_zero_steps_keep_the_probabilities() -> None:
    image, logits, marginals, _ = golden_case('rgb')
    probs = F.interpolate(logits, size=image.shape[-2:], mode='bilinear',
                          align_corners=False)[0].softmax(0)
    kept = DenseCRF(iter_max=0)(image, probs)   # probabilities floored at 1e-5, renormalised
    torch.testing.assert_close(kept, probs, rtol=0, atol=2e-5)
    assert torch.equal(kept.argmax(0), probs.argmax(0))
    stronger = DenseCRF(bi_w=8.0)(image, probs).numpy()
    assert np.abs(stronger - marginals).max() > 1e-2
    assert DENSE_CRF_DEFAULTS == dict(iter_max=10, pos_xy_std=1.0, pos_w=3.0, bi_xy_std=67.0,
                                      bi_rgb_std=3.0, bi_w=4.0)


def test_image_is_resized_to_the_probabilities() -> None:
    image = torch.arange(3 * 4 * 6, dtype=torch.uint8).reshape(3, 4, 6)
    assert image_to_uint8(image).shape == (4, 6, 3)
    resized = image_to_uint8(image, (8, 12))
    assert resized.shape == (8, 12, 3) and resized.dtype == np.uint8
    assert resized.flags['C_CONTIGUOUS']


def test_builds_from_the_registry_and_checks_its_config() -> None:
    crf = MODELS.build(dict(type='DenseCRF', iter_max=3, bi_w=2))
    assert (crf.iter_max, crf.bi_w, crf.pos_xy_std) == (3, 2.0, 1.0)
    assert check_dense_crf_cfg(dict(type='DenseCRF', pos_w=5)) == dict(DENSE_CRF_DEFAULTS,
                                                                       pos_w=5)
    for bad, match in ((dict(iters=3), r"unknown crf keys \['iters'\]"),
                       (dict(type='PAMRRefiner'), "crf.type must be 'DenseCRF'"),
                       ([10], 'must be None or a dict')):
        with pytest.raises(ValueError, match=match) as error:
            check_dense_crf_cfg(bad)
        assert '\n' not in str(error.value)
    for bad in (dict(iter_max=-1), dict(iter_max=2.5), dict(bi_rgb_std=0), dict(pos_w=-1.0),
                dict(bi_xy_std=float('nan')), dict(bi_w=True)):
        with pytest.raises(ValueError, match='DenseCRF') as error:
            DenseCRF(**bad)
        assert '\n' not in str(error.value)


def test_bad_inputs_are_one_line_errors() -> None:
    crf = DenseCRF(iter_max=1)
    image = torch.zeros(3, 5, 7, dtype=torch.uint8)
    for probs, match in ((torch.full((2, 5, 7), float('nan')), 'non-finite'),
                         (torch.ones(5, 7), r'\(K, H, W\)')):
        with pytest.raises(ValueError, match=match):
            crf(image, probs)
    with pytest.raises(ValueError, match='RGB image'):
        crf(torch.zeros(1, 5, 7), torch.full((2, 5, 7), 0.5))


def test_missing_library_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'ovperception\[crf\]'") as error:
        DenseCRF()
    assert '\n' not in str(error.value)


def test_refine_relabels_samples_at_the_original_size() -> None:
    """As a post-head refiner: seg_logits at the working size -> marginals at ori_shape."""
    image, logits, _, _ = golden_case('rgb')
    height, width = image.shape[-2:]
    small = F.interpolate(logits, size=(height // 2, width // 2), mode='bilinear',
                          align_corners=False)[0].softmax(0)
    sample = OVDataSample(metainfo=dict(ori_shape=(height, width)))
    sample.seg_logits = PixelData(data=small)
    (refined,) = DenseCRF().refine([image], [sample])
    expected = DenseCRF()(image, F.interpolate(small[None], size=(height, width),
                                                mode='bilinear', align_corners=False)[0])
    torch.testing.assert_close(refined.seg_logits.data, expected, rtol=0, atol=0)
    assert torch.equal(refined.pred_sem_seg.data[0], expected.argmax(0))
    with pytest.raises(ValueError, match='return_logits=True'):
        DenseCRF().refine([image], [OVDataSample(metainfo=dict(ori_shape=(height, width)))])
