import numpy as np
import pytest
import torch

from ovperception.models.clip.preprocess import clip_resize_center_crop, clip_view


@pytest.mark.parametrize('height, width', [(40, 90), (90, 40), (64, 64)])
def test_tensor_and_pil_views_crop_the_same_window(height, width):
    yy, xx = np.mgrid[:height, :width]
    smooth = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (height + width)],
                      axis=-1).round().astype(np.uint8)
    pil_view = clip_resize_center_crop(smooth, 32)
    tensor_view = clip_view(torch.from_numpy(smooth).permute(2, 0, 1).float(), 32)
    assert pil_view.shape == (32, 32, 3) and tuple(tensor_view.shape) == (3, 32, 32)
    difference = np.abs(tensor_view.permute(1, 2, 0).numpy() - pil_view.astype(np.float32))
    assert difference.max() < 4.0  # one window; only the two bicubic kernels' rounding differ


def test_size_must_be_positive():
    with pytest.raises(ValueError, match='size must be positive'):
        clip_view(torch.zeros(3, 8, 8), 0)
