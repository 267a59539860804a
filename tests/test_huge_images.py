"""Huge images (issue 17, item 1) on a downscaled analogue: the image stays uint8 (windows are
normalised a batch at a time), labels equal the float path, a bar counts the windows, and the
run takes time proportional to its pixels."""
from __future__ import annotations

import io
import os
import time

import numpy as np
import torch

from ovperception.apis import OVPredictor, init_model
from ovperception.models import inference
from ovperception.structures import OVDataSample
from tests.scripts import ROOT

TINY_SEG = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')


def _photo(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (-(-height // 40), -(-width // 40), 3), np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(small, 40, 0), 40, 1)[:height, :width])


def test_predictor_keeps_the_image_uint8_and_predicts_what_the_float_path_predicts():
    model = init_model(TINY_SEG)
    predictor = OVPredictor(model)
    image = _photo(150, 230)
    predictor.set_image(image)
    assert predictor._encoded.images[0].dtype == torch.uint8  # 1 byte per value, not 4
    fast = predictor.predict(['sky', 'tree', 'road']).pred_sem_seg.data

    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    sample = OVDataSample(metainfo=dict(ori_shape=(150, 230), img_shape=(150, 230),
                                        classnames=['sky', 'tree', 'road']))
    data = model.data_preprocessor(dict(inputs=[tensor], data_samples=[sample]), False)
    assert data['inputs'].dtype == torch.float32
    with torch.no_grad():
        encoded = model.encode_images(data['inputs'], data['data_samples'])
        reference = model.decode(encoded, data['data_samples'])[0].pred_sem_seg.data
    assert torch.equal(fast, reference)


def test_many_windows_show_a_bar_and_take_time_proportional_to_pixels(monkeypatch):
    bars = []
    real_tqdm = inference.tqdm

    def recording_tqdm(*args, **kwargs):
        bar = real_tqdm(*args, **dict(kwargs, disable=False, file=io.StringIO()))
        bars.append((kwargs, bar))
        return bar

    monkeypatch.setattr(inference, 'tqdm', recording_tqdm)
    monkeypatch.setattr(inference, 'PROGRESS_MIN_WINDOWS', 100)  # 512 in use; small test images
    predictor = OVPredictor(init_model(TINY_SEG))
    timings = {}
    for height, width in ((200, 300), (400, 600)):  # 1:4 in pixels
        started = time.perf_counter()
        predictor.set_image(_photo(height, width))
        predictor.predict(['sky', 'tree'])
        timings[height] = time.perf_counter() - started
    small, large = (kwargs for kwargs, _ in bars)
    assert small['disable'] is True  # 54 windows (< 100): no bar
    assert large['disable'] is None and large['total'] == 12 * 18  # a bar on a terminal
    assert bars[-1][1].n == large['total']
    assert timings[400] < 8 * timings[200] + 1.0  # about 4x; quadratic growth would be 16x
