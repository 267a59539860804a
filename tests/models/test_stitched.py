"""Lazy separable stitching (models/stitched.py) against mmseg's resize-then-average loop."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovperception.models.inference import sliding_windows, stitch_lazily, stitch_windows
from ovperception.models.stitched import StitchedWindows, as_stitched, linear_resize_matrix


def _outputs(windows, depth, stride, seed=0, cells=None):
    y0, x0, y1, x1 = windows[0]
    if cells is None:
        cells = (-(-(y1 - y0) // stride), -(-(x1 - x0) // stride))
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(len(windows), depth, *cells, generator=generator)


CASES = [  # image (H, W), crop, stride, feature stride, D
    ((336, 448), 224, 112, 16, 12),   # the ADE20K protocol: 2 x 3 windows
    ((336, 500), 224, 112, 16, 5),    # last column shifted back to the border
    ((40, 52), 16, 8, 4, 3),          # many small windows
    ((37, 61), 16, 8, None, 4),       # no feature stride: outputs stretched to the window
    ((100, 80), 224, 112, 16, 3),     # image smaller than the crop: one window
]


@pytest.mark.parametrize('n_in,n_out,stride', [(14, 224, 16), (5, 17, None), (7, 3, None),
                                               (1, 9, None), (4, 14, 4), (9, 9, None)])
def test_linear_resize_matrix_is_pytorchs_linear_resize(n_in, n_out, stride):
    values = torch.randn(3, n_in)
    target = n_out if stride is None else n_in * stride
    expected = F.interpolate(values[None], size=target, mode='linear',
                             align_corners=False)[0][:, :n_out]
    matrix = linear_resize_matrix(n_in, n_out, stride)
    assert matrix.shape == (n_out, n_in)
    assert torch.allclose(values @ matrix.t(), expected, atol=1e-6)
    with pytest.raises(ValueError, match='cannot cover'):
        linear_resize_matrix(2, 9, 4)


@pytest.mark.parametrize('size,crop,step,stride,depth', CASES)
def test_dense_equals_the_stitching_loop(size, crop, step, stride, depth):
    windows = sliding_windows(*size, crop, step)
    outputs = _outputs(windows, depth, stride or 4, cells=None if stride else (5, 6))
    expected = stitch_windows(list(outputs), windows, size, stride)
    stitched = StitchedWindows(outputs, windows, size, stride)
    assert stitched.shape == expected.shape
    assert torch.allclose(stitched.dense(), expected, atol=1e-6)
    assert stitched.is_finite()


@pytest.mark.parametrize('size,crop,step,stride,depth', CASES)
@pytest.mark.parametrize('out_size', [None, (512, 683), (23, 31)])
def test_resized_rows_in_chunks_equal_full_interpolation(size, crop, step, stride, depth,
                                                         out_size):
    windows = sliding_windows(*size, crop, step)
    outputs = _outputs(windows, depth, stride or 4, seed=1, cells=None if stride else (5, 6))
    reference = stitch_windows(list(outputs), windows, size, stride)
    if out_size is not None:
        reference = F.interpolate(reference[None], size=out_size, mode='bilinear',
                                  align_corners=False)[0]
    stitched = StitchedWindows(outputs, windows, size, stride)
    height, width = reference.shape[-2:]
    one_row = 1 if height <= 64 else 16 * width * depth  # row-by-row on the small cases only
    for budget in (one_row, 3 * width * depth, 1 << 22):  # few rows, three rows, everything
        values = stitched.map_rows(out_size, max_elements=budget)
        assert torch.allclose(values.permute(2, 0, 1), reference, atol=1e-6)
    labels = stitched.map_rows(out_size, lambda chunk: chunk.argmax(-1), max_elements=999)
    expected = reference.argmax(0)
    top2 = reference.topk(2, dim=0).values
    near_tie = (top2[0] - top2[1]) < 1e-5
    assert bool(((labels == expected) | near_tie).all())


@pytest.mark.parametrize('size,crop,step,stride,depth', CASES)
def test_avg_pooled_equals_pooling_the_dense_map(size, crop, step, stride, depth):
    windows = sliding_windows(*size, crop, step)
    outputs = _outputs(windows, depth, stride or 4, seed=2, cells=None if stride else (5, 6))
    stitched = StitchedWindows(outputs, windows, size, stride)
    dense = stitch_windows(list(outputs), windows, size, stride)
    for cell in (1, 3, 8, 16):  # 3 leaves partial cells at the border (ceil_mode)
        expected = F.avg_pool2d(dense[None], cell, cell, ceil_mode=True)[0]
        pooled = stitched.avg_pooled(cell)
        assert pooled.shape == expected.shape
        assert torch.allclose(pooled, expected, atol=1e-5)
    with pytest.raises(ValueError, match='stride'):
        stitched.avg_pooled(0)


def test_from_dense_is_exact_and_resizes_like_interpolate():
    dense = torch.randn(4, 19, 23)
    wrapped = as_stitched(dense)
    assert as_stitched(wrapped) is wrapped
    assert torch.equal(wrapped.dense(), dense)  # identity weights: bit-exact
    resized = wrapped.map_rows((40, 9), max_elements=50).permute(2, 0, 1)
    expected = F.interpolate(dense[None], size=(40, 9), mode='bilinear', align_corners=False)[0]
    assert torch.allclose(resized, expected, atol=1e-6)


def test_windows_that_are_not_a_grid_fall_back_to_the_loop():
    grid = [(0, 0, 8, 8), (0, 6, 8, 14), (4, 0, 12, 8), (4, 6, 12, 14)]
    windows = grid + [(2, 3, 10, 11)]  # a fifth window in the middle: no longer a grid
    outputs = torch.randn(5, 3, 2, 2)
    with pytest.raises(ValueError, match='grid'):
        StitchedWindows(outputs, windows, (12, 14), 4)
    lazy = stitch_lazily(outputs, windows, (12, 14), 4)
    assert torch.equal(lazy.dense(), stitch_windows(list(outputs), windows, (12, 14), 4))
    with pytest.raises(ValueError, match='cover'):
        StitchedWindows(torch.randn(1, 3, 2, 2), [(0, 0, 8, 8)], (12, 14), 4).dense()
    with pytest.raises(ValueError, match='n = 2 windows'):
        StitchedWindows(torch.randn(3, 3, 2, 2), grid[:2], (12, 14), 4)


def test_non_finite_window_outputs_are_detected():
    windows = sliding_windows(32, 32, 16, 8)
    outputs = torch.randn(len(windows), 2, 4, 4)
    outputs[3, 1, 2, 2] = float('nan')
    assert not StitchedWindows(outputs, windows, (32, 32), 4).is_finite()


@pytest.mark.parametrize('stride', [None, 4])
def test_centred_padding_lazy_equals_the_loop(stride):
    """ClearCLIP's centred padding: the window sits in the middle of its padded grid."""
    from ovperception.models.inference import resize_window_output, sliding_windows
    torch.manual_seed(0)
    size = (13, 22)
    windows = sliding_windows(*size, crop_size=(10, 10), stride=(6, 6))
    outputs = torch.randn(len(windows), 3, 3, 3)
    expected = stitch_windows(list(outputs), windows, size, stride, centred_padding=True)
    lazy = StitchedWindows(outputs, windows, size, stride, centred_padding=True)
    assert torch.allclose(lazy.dense(), expected, atol=1e-5)
    if stride is not None:  # 3 cells of 4 cover 12 pixels: a 10-pixel window starts at 1
        full = resize_window_output(outputs[:1], (12, 12))
        assert torch.allclose(resize_window_output(outputs[:1], (10, 10), 4, True),
                              full[..., 1:11, 1:11])


@pytest.mark.parametrize('size', [(120, 300), None])  # resized, and stitched in place
def test_column_bands_made_on_demand_equal_the_cached_stage(monkeypatch, size):
    """Large maps build their column stage band by band as the rows reach them: the same
    values, bit for bit, whatever the band size."""
    from ovperception.models import stitched as module
    from ovperception.models.inference import sliding_windows
    torch.manual_seed(0)
    windows = sliding_windows(150, 230, 64, 32)
    outputs = torch.randn(len(windows), 5, 4, 4)
    whole = module.StitchedWindows(outputs, windows, (150, 230), feature_stride=16)
    expected = whole.map_rows(size, max_elements=4000)
    assert whole._columns  # kept whole
    monkeypatch.setattr(module, 'COLUMN_CACHE_ELEMENTS', 0)
    for band_elements in (3000, 1 << 16):  # bands of 2 mosaic rows, of all of them
        monkeypatch.setattr(module, 'COLUMN_BAND_ELEMENTS', band_elements)
        banded = module.StitchedWindows(outputs, windows, (150, 230), feature_stride=16)
        assert torch.equal(banded.map_rows(size, max_elements=4000), expected)
        assert banded._columns == {}  # nothing kept whole
