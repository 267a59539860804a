"""Tests of ovperception.visualization: palette, overlays, legend and OVVisualizer."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from PIL import Image

from ovperception.registry import VISUALIZERS
from ovperception.structures import OVDataSample
from ovperception.visualization import (UNLABELLED_COLOR, OVVisualizer, apply_colormap,
                                        colorize_label_map, draw_count, draw_heatmap,
                                        draw_instances, draw_sem_seg, draw_title, get_palette)
from ovperception.visualization.canvas import ascii_text, fit_text, text_size

_counter = itertools.count()


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _contains_color(region: np.ndarray, color: np.ndarray) -> bool:
    return bool((region.reshape(-1, 3) == np.asarray(color, np.uint8)).all(axis=1).any())


def test_palette_deterministic_distinct_prefix_stable() -> None:
    palette = get_palette(300)
    assert palette.shape == (300, 3) and palette.dtype == np.uint8
    np.testing.assert_array_equal(palette, get_palette(300))
    np.testing.assert_array_equal(get_palette(20), palette[:20])
    assert len({tuple(c) for c in palette[:100]}) == 100
    assert not (palette == np.array(UNLABELLED_COLOR)).all(axis=1).any()
    first = palette[:20].astype(int)
    dists = np.abs(first[:, None] - first[None]).sum(-1) + np.eye(20, dtype=int) * 999
    assert dists.min() > 30
    assert get_palette(0).shape == (0, 3)


def test_colorize_label_map() -> None:
    labels = np.array([[0, 1], [255, 2]])
    out = colorize_label_map(labels)
    np.testing.assert_array_equal(out[0, 1], get_palette(3)[1])
    np.testing.assert_array_equal(out[1, 0], UNLABELLED_COLOR)


def test_text_helpers() -> None:
    assert ascii_text('café\n狗') == 'cafe ?'
    long = fit_text('a very long class name ' * 10, 100, 0.5, 1)
    assert long.endswith('...') and text_size(long, 0.5, 1)[0] <= 100
    assert fit_text('dog', 100, 0.5, 1) == 'dog'
    assert fit_text('dog', 1, 0.5, 1) == ''


def test_draw_sem_seg_tiny_image_legend_colors() -> None:
    image = _image(32, 32)
    labels = np.full((32, 32), 255)
    labels[:, :20] = 0
    labels[20:, 20:] = 4
    names = ['cat', 'dog', 'grass', 'sky', 'a ' + 'very long name ' * 10 + '狗']
    original = image.copy()
    out = draw_sem_seg(image, labels, names)
    np.testing.assert_array_equal(image, original)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[0] >= 256 and out.shape[1] > 256  # upscaled, legend on the right
    legend = out[:, 256:]
    palette = get_palette(len(names))
    assert _contains_color(legend, palette[0]) and _contains_color(legend, palette[4])
    for absent in (1, 2, 3):
        assert not _contains_color(legend, palette[absent])
    # sorted by area: class 0 (640 px) above class 4 (144 px)
    rows = [np.flatnonzero((legend == palette[c]).all(-1).any(1))[0] for c in (0, 4)]
    assert rows[0] < rows[1]
    # unlabelled pixels (away from boundaries) keep the image
    upscaled = np.repeat(np.repeat(image, 8, axis=0), 8, axis=1)
    np.testing.assert_array_equal(out[8:152, 168:256], upscaled[8:152, 168:256])
    assert not np.array_equal(out[8:152, 8:152], upscaled[8:152, 8:152])


def test_draw_sem_seg_large_wide_and_empty() -> None:
    image = _image(120, 600)
    labels = np.zeros((1, 120, 600), np.int64)
    labels[:, :, 300:] = 1
    out = draw_sem_seg(image, labels, ['left', 'right'], min_size=0)
    assert out.shape[1] == 600 and out.shape[0] > 120  # legend at the bottom
    assert _contains_color(out[120:], get_palette(2)[1])
    out = draw_sem_seg(image, np.full((120, 600), 255), ['a'], min_size=0)
    assert out.shape[1] == 600 and out.shape[0] > 120  # a 'nothing found' header
    # label map at another resolution is resized; labels beyond the names still draw
    out = draw_sem_seg(image, np.full((12, 60), 7), [], min_size=0, legend='right')
    assert out.shape[0] == 120 and out.shape[1] > 600


def test_draw_sem_seg_many_classes_wraps_legend() -> None:
    labels = np.arange(64 * 64).reshape(64, 64) % 300
    out = draw_sem_seg(_image(64, 64), labels, [f'class {i}' for i in range(300)], min_size=64)
    assert out.shape[0] == 64 and out.shape[1] > 64


def test_draw_heatmap_constant_and_nan_maps() -> None:
    image = _image(40, 50)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with np.errstate(all='raise'):
            for value in (0.0, 3.0):
                out = draw_heatmap(image, np.full((5, 5), value), alpha=0.5, title='score 0.5')
                assert out.dtype == np.uint8 and out.shape[0] > 256
            out = draw_heatmap(image, np.full((5, 5), np.nan), colormap='viridis')
            assert out.dtype == np.uint8
    out = draw_heatmap(image, np.random.rand(1, 7, 9), value_range=(0, 1), colorbar=False,
                       min_size=0)
    assert out.shape == image.shape


def test_apply_colormap_cv2_and_matplotlib() -> None:
    ramp = np.linspace(0, 1, 10)[None]
    jet = apply_colormap(ramp, 'jet')
    assert jet.shape == (1, 10, 3) and jet[0, 0, 2] > jet[0, 0, 0]  # jet starts blue (RGB)
    assert apply_colormap(ramp, 'Reds').shape == (1, 10, 3)


def test_draw_instances_zero_and_some_boxes() -> None:
    image = _image(32, 48)
    out = draw_instances(image, np.zeros((0, 4)), np.zeros(0), np.zeros(0), ['cat'],
                         masks=np.zeros((0, 32, 48), bool), points=np.zeros((0, 2)))
    assert out.shape == (256, 384, 3) and out.dtype == np.uint8
    masks = np.zeros((2, 32, 48), bool)
    masks[0, 4:12, 4:12] = True
    out = draw_instances(image, torch.tensor([[4., 4., 12., 12.], [20., 10., 40., 30.]]),
                         torch.tensor([1, 0]), torch.tensor([0.9, 0.1]), ['cat', 'dog'],
                         masks=masks, points=np.array([[8., 8.], [30., 20.]]),
                         score_threshold=0.5, min_size=0, title='detections')
    palette = get_palette(2)
    assert _contains_color(out, palette[1]) and not _contains_color(out, palette[0])
    gt = draw_instances(image, [[1, 1, 5, 5]], [0], None, ['x'])
    assert gt.shape == (256, 384, 3)
    with pytest.raises(ValueError):
        draw_instances(image, np.zeros((2, 4)), np.zeros(1), None, [])


def test_draw_count_and_title() -> None:
    image = _image(30, 30)
    out = draw_count(image, np.zeros((8, 8)), 0.0, points=np.array([[3., 4.]]), gt_count=1)
    assert out.dtype == np.uint8 and out.shape[0] > 256 and out.shape[1] > 256
    assert draw_title(image, 'hello', min_size=0).shape[1] == 30


def _seg_sample() -> OVDataSample:
    sample = OVDataSample(metainfo=dict(label_names=['cat', 'dog', 'grass']))
    labels = torch.zeros(1, 24, 32, dtype=torch.long)
    labels[..., 16:] = 1
    labels[:, :4] = 255
    sample.gt_sem_seg = PixelData(data=labels)
    pred = labels.clone()
    pred[:, 18:] = 2
    sample.pred_sem_seg = PixelData(data=pred)
    return sample


def test_visualizer_writes_png_side_by_side(tmp_path) -> None:
    vis = VISUALIZERS.build(dict(type='OVVisualizer', name=f'test_vis_{next(_counter)}'))
    assert isinstance(vis, OVVisualizer)
    out_file = tmp_path / 'vis' / 'sample.png'
    drawn = vis.add_datasample('sample', _image(24, 32), _seg_sample(), out_file=str(out_file))
    written = np.asarray(Image.open(out_file).convert('RGB'))
    np.testing.assert_array_equal(written, drawn)
    pred_only = vis.add_datasample('sample', _image(24, 32), _seg_sample(), draw_gt=False)
    assert drawn.shape[1] > 2 * pred_only.shape[1] - 10
    palette = get_palette(3)
    assert _contains_color(pred_only, palette[2])


def test_visualizer_all_tasks_and_empty_sample() -> None:
    vis = OVVisualizer(name=f'test_vis_{next(_counter)}', min_size=64)
    image = _image(24, 32)
    sample = OVDataSample(metainfo=dict(label_names=['cat'], ori_shape=(48, 64)))
    sample.pred_instances = InstanceData(bboxes=torch.tensor([[0., 0., 40., 40.]]),
                                         labels=torch.tensor([0]),
                                         scores=torch.tensor([0.9]))
    sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
    sample.pred_density = PixelData(data=torch.rand(1, 6, 8))
    sample.gt_count = torch.tensor(3.0)
    sample.pred_anomaly_map = PixelData(data=torch.full((1, 24, 32), 0.5))
    sample.pred_score = torch.tensor(0.5)
    drawn = vis.add_datasample('all', image, sample)
    assert drawn.dtype == np.uint8 and drawn.shape[0] > 3 * 64
    np.testing.assert_array_equal(vis.add_datasample('none', image, OVDataSample()), image)


def test_visualizer_sums_per_class_density_maps_with_per_class_counts(monkeypatch) -> None:
    import ovperception.visualization.visualizer as visualizer_module
    from ovperception.visualization.visualizer import count_title
    seen = {}
    real_draw_count = visualizer_module.draw_count

    def spy(image, density, count, **kwargs):
        seen.update(density=density, count=count, title=kwargs.get('title'))
        return real_draw_count(image, density, count, **kwargs)

    monkeypatch.setattr(visualizer_module, 'draw_count', spy)
    vis = OVVisualizer(name=f'test_vis_{next(_counter)}', min_size=64)
    sample = OVDataSample(metainfo=dict(label_names=['cat', 'dog']))
    density = torch.rand(2, 6, 8)
    sample.pred_density = PixelData(data=density)
    sample.pred_count = torch.tensor([2.0, 3.5])
    drawn = vis.add_datasample('multi', _image(24, 32), sample)
    assert drawn.dtype == np.uint8
    np.testing.assert_allclose(seen['density'], density.sum(0).numpy(), rtol=1e-6)
    assert seen['count'] == 5.5
    assert seen['title'] == 'cat: 2.0, dog: 3.5 | total: 5.5'
    assert count_title(np.array([4.0]), ['cat']) == 'count: 4.0'
    assert count_title(np.array([1.0, 2.0]), ['cat']) == 'cat: 1.0, class 1: 2.0 | total: 3.0'
