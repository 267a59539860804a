"""Label agreement between a PyTorch model and its ONNX export on the same inputs."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ovperception.benchmarking.runner import make_batch, synthetic_images
from ovperception.deploy.onnx_model import ONNXDenseModel


def label_agreement(model: nn.Module, onnx_path: str | ONNXDenseModel,
                    vocabulary: Sequence[str], *, num_images: int = 2,
                    size: tuple[int, int] | None = None, seed: int = 0) -> float:
    """Fraction of pixels whose predicted label is the same in PyTorch and onnxruntime.

    Args:
        model: the exported PyTorch ``OVModel`` (CPU).
        onnx_path: its export (or the loaded :class:`ONNXDenseModel`).
        vocabulary: the exported vocabulary.
        num_images: random uint8 images, each of ``size`` (default 1.5 x the crop, so that
            windows overlap and are stitched).
        seed: of the random images.
    """
    onnx_model = (onnx_path if isinstance(onnx_path, ONNXDenseModel)
                  else ONNXDenseModel(onnx_path))
    if size is None:
        crop = onnx_model.backbone.input_size
        size = (crop[0] * 3 // 2, crop[1] * 2) if onnx_model.test_cfg['mode'] == 'slide' else crop
    same = total = 0
    for image in synthetic_images(num_images, size, seed):
        labels = []
        for runner in (model, onnx_model):
            batch = make_batch([image], list(vocabulary))
            with torch.no_grad():
                data = model.data_preprocessor(batch, False)  # the same normalised input
                sample = runner.predict(data['inputs'], data['data_samples'])[0]
            labels.append(sample.pred_sem_seg.data)
        same += int((labels[0] == labels[1]).sum())
        total += labels[0].numel()
    return same / total
