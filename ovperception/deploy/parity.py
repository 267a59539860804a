"""Label agreement between a PyTorch model and its ONNX export (run by onnxruntime or
OpenVINO) on the same inputs."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ovperception.benchmarking.runner import make_batch, structured_images, synthetic_images
from ovperception.deploy.onnx_model import ONNXDenseModel


def label_agreement(model: nn.Module, onnx_path: str | ONNXDenseModel,
                    vocabulary: Sequence[str], *, num_images: int = 2,
                    size: tuple[int, int] | None = None, seed: int = 0,
                    runtime: str = 'onnx', images: str = 'random') -> float:
    """Fraction of pixels whose predicted label is the same in PyTorch and the runtime.

    Args:
        model: the exported PyTorch ``OVModel`` (CPU).
        onnx_path: its export (or the loaded :class:`ONNXDenseModel`).
        vocabulary: the exported vocabulary.
        num_images: images, each of ``size`` (default 1.5 x the crop, so that windows
            overlap and are stitched).
        seed: of the images.
        runtime: what runs ``onnx_path`` when it is a path (``'onnx'``, ``'openvino'``).
        images: ``'random'`` (uniform uint8 noise) or ``'structured'``
            (:func:`~ovperception.benchmarking.runner.structured_images`).
    """
    if images not in ('random', 'structured'):
        raise ValueError(f"images must be 'random' or 'structured', got {images!r}")
    onnx_model = (onnx_path if isinstance(onnx_path, ONNXDenseModel)
                  else ONNXDenseModel(onnx_path, runtime=runtime))
    if size is None:
        crop = onnx_model.backbone.input_size
        size = (crop[0] * 3 // 2, crop[1] * 2) if onnx_model.test_cfg['mode'] == 'slide' else crop
    same = total = 0
    make_images = structured_images if images == 'structured' else synthetic_images
    for image in make_images(num_images, size, seed):
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
