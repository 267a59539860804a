"""Static int8 quantisation of an exported dense graph, calibrated on structured images.

Weights int8 per output channel (symmetric), activations uint8 per tensor with ranges
calibrated on crops of :func:`~ovperception.benchmarking.runner.structured_images`, written
as QDQ (QuantizeLinear / DequantizeLinear pairs around each quantised MatMul), which both
onnxruntime and OpenVINO run with int8 kernels.

Quantised: the weight MatMuls (the Linear layers: qkv, attention output and MLP
projections) of every transformer block but the last. Kept in float32: the patch
embedding, the whole last block -- its dense attention (SCLIP's CSA, ClearCLIP's,
NACLIP's ... -- where the dense mode acts) and its MLP --, every softmax and every
activation x activation product (attention scores), the final projection and the head.
Quantising the last block's MLP as well measured 99.02 % label agreement with PyTorch on
structured images (ViT-B/16 SCLIP, random weights; docs/benchmarks.md), below the 99.5 %
aimed at.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from ovperception.deploy.onnx_files import INPUT_NAME, ExportError, rewrite_in_place

_BLOCK = re.compile(r'resblocks\.(\d+)\.')


def quantizable_matmuls(model: object) -> list[str]:
    """Names of the MatMul nodes of an exported ``onnx.ModelProto`` to quantise (module
    docstring), from the module path the exporter records per node (``namespace``).

    Raises:
        ExportError: no node carries a transformer block's name (not a ViT export).
    """
    weights = {init.name for init in model.graph.initializer}
    found: list[tuple[int, str]] = []
    for node in model.graph.node:
        if node.op_type != 'MatMul' or len(node.input) < 2 or node.input[1] not in weights:
            continue
        namespace = next((p.value for p in node.metadata_props if p.key == 'namespace'), '')
        match = _BLOCK.findall(namespace)
        if match:
            found.append((int(match[-1]), node.name))
    if not found:
        raise ExportError('static int8 quantisation needs a ViT export whose nodes name their '
                          'transformer block (resblocks.N)')
    last = max(block for block, _ in found)
    return [name for block, name in found if block < last]


class _Crops:
    """onnxruntime ``CalibrationDataReader`` over normalised crops, a few at a time."""

    def __init__(self, crops: np.ndarray, batch: int = 4) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            [crops[i:i + batch] for i in range(0, len(crops), batch)])

    def get_next(self) -> dict | None:
        crops = next(self._batches, None)
        return None if crops is None else {INPUT_NAME: crops}


def calibration_crops(metadata: dict, count: int = 16, seed: int = 0) -> np.ndarray:
    """``count`` normalised (count, 3, H, W) float32 crops of structured images at the
    graph's input size and normalisation."""
    import torch

    from ovperception.benchmarking.runner import structured_images
    images = torch.stack(structured_images(count, tuple(metadata['input_size']), seed))
    mean = torch.tensor(metadata['mean']).view(1, 3, 1, 1)
    std = torch.tensor(metadata['std']).view(1, 3, 1, 1)
    return ((images.float() - mean) / std).numpy().astype(np.float32)


def quantize_static_int8(path: str, metadata: dict, count: int = 16, seed: int = 0) -> None:
    """Replace the float32 export at ``path`` by its static int8 quantisation (module
    docstring), calibrated (min / max) on ``count`` structured crops; written atomically."""
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    nodes = quantizable_matmuls(onnx.load_model(path, load_external_data=False))
    crops = calibration_crops(metadata, count, seed)
    rewrite_in_place(path, lambda source, target: quantize_static(
        source, target, _Crops(crops), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        nodes_to_quantize=nodes, calibrate_method=CalibrationMethod.MinMax,
        extra_options=dict(WeightSymmetric=True, ActivationSymmetric=False)))
