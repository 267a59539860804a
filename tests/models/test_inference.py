from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovperception.models.inference import (map_resized_in_chunks, resize_window_output,
                                           slide_inference, sliding_windows, whole_inference)


def test_sliding_windows_follow_mmseg_rule():
    windows = sliding_windows(336, 500, 224, 112)
    ys = sorted({w[0] for w in windows})
    xs = sorted({w[1] for w in windows})
    assert ys == [0, 112] and xs == [0, 112, 224, 276]
    assert all(w[2] - w[0] == 224 and w[3] - w[1] == 224 for w in windows)
    assert sliding_windows(100, 80, 224, 112) == [(0, 0, 100, 80)]
    with pytest.raises(ValueError):
        sliding_windows(10, 10, 0, 1)


def _naive_slide(image, fn, crop, stride):
    """Reference: one window at a time, accumulate and count (mmseg's loop)."""
    _, height, width = image.shape
    total = None
    count = torch.zeros(1, height, width)
    rows = max(height - crop + stride - 1, 0) // stride + 1
    cols = max(width - crop + stride - 1, 0) // stride + 1
    for r in range(rows):
        for c in range(cols):
            y1, x1 = min(r * stride + crop, height), min(c * stride + crop, width)
            y0, x0 = max(y1 - crop, 0), max(x1 - crop, 0)
            out = fn(image[None, :, y0:y1, x0:x1])
            out = F.interpolate(out, size=(y1 - y0, x1 - x0), mode='bilinear',
                                align_corners=False)[0]
            total = torch.zeros(out.shape[0], height, width) if total is None else total
            total[:, y0:y1, x0:x1] += out
            count[:, y0:y1, x0:x1] += 1
    return total / count


def test_slide_inference_matches_naive_loop_and_batching_does_not_matter():
    weight = torch.randn(5, 3, 4, 4)

    def encode(x):
        return F.conv2d(x, weight, stride=4)

    images = [torch.randn(3, 40, 52), torch.randn(3, 33, 20)]
    outs_batched = slide_inference(images, encode, lambda f, i: f, crop_size=16, stride=8,
                                   crop_batch_size=7)
    outs_single = slide_inference(images, encode, lambda f, i: f, crop_size=16, stride=8,
                                  crop_batch_size=1)
    for image, batched, single in zip(images, outs_batched, outs_single):
        assert torch.allclose(batched, single, atol=1e-5)
        assert torch.allclose(batched, _naive_slide(image, encode, 16, 8), atol=1e-5)


def test_crop_covering_image_equals_whole_inference():
    image = torch.randn(3, 24, 32)
    encode = lambda x: F.avg_pool2d(x, 4)  # noqa: E731
    whole = whole_inference([image], encode, lambda f, i: f)[0]
    slide = slide_inference([image], encode, lambda f, i: f, crop_size=64, stride=32)[0]
    assert torch.equal(whole, slide)
    assert whole.shape == (3, 24, 32)


def test_feature_stride_crops_padding_instead_of_stretching():
    output = torch.arange(4.0).view(1, 1, 1, 4)  # a 1 x 4 grid for a 16 x 14 window padded to 16
    resized = resize_window_output(output, (3, 14), feature_stride=4)
    expected = F.interpolate(output, size=(4, 16), mode='bilinear', align_corners=False)
    assert torch.equal(resized, expected[..., :3, :14])


def test_chunked_resize_equals_full_interpolation():
    dense = torch.randn(6, 9, 11)
    full = F.interpolate(dense[None], size=(70, 45), mode='bilinear', align_corners=False)[0]
    chunked = map_resized_in_chunks(dense, (70, 45), lambda x: x, max_elements=6 * 45 * 3)
    assert torch.allclose(chunked, full, atol=1e-5)
    labels = map_resized_in_chunks(dense, (70, 45), lambda x: x.argmax(0), max_elements=500)
    assert labels.shape == (70, 45)
    assert (labels == full.argmax(0)).float().mean() > 0.999
