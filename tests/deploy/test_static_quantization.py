"""``--quantize int8-static``: QDQ int8 calibrated on structured images, the last block
(with its dense attention) and the head left in float; run by onnxruntime and OpenVINO."""
from __future__ import annotations

import shutil

import onnx
import pytest
import torch

from ovperception.deploy import ExportError, ONNXDenseModel, read_export_metadata
from ovperception.deploy.static_quant import (calibration_crops, quantizable_matmuls,
                                              quantize_static_int8)


def _namespace(node) -> str:
    return next((p.value for p in node.metadata_props if p.key == 'namespace'), '')


def test_the_last_blocks_attention_and_the_head_stay_float(exported, tmp_path):
    _, path = exported
    proto = onnx.load(path, load_external_data=False)
    chosen = set(quantizable_matmuls(proto))
    nodes = {node.name: node for node in proto.graph.node}
    assert chosen and all(nodes[name].op_type == 'MatMul' for name in chosen)
    # the tiny ViT has 2 blocks: block 0's attention projections and MLP, none of block 1
    assert {('resblocks.0.' in _namespace(nodes[n]), '.mlp.' in _namespace(nodes[n]))
            for n in chosen} == {(True, False), (True, True)}
    copy = str(tmp_path / 'static.onnx')
    shutil.copy(path, copy)
    quantize_static_int8(copy, read_export_metadata(path), count=4)
    assert read_export_metadata(copy) == read_export_metadata(path)  # metadata survived
    quantized = onnx.load(copy)
    produced_by = {out: node for node in quantized.graph.node for out in node.output}
    dequantized_inputs = {node.name for node in quantized.graph.node if node.op_type == 'MatMul'
                          and any(getattr(produced_by.get(i), 'op_type', '') ==
                                  'DequantizeLinear' for i in node.input)}
    assert dequantized_inputs == chosen
    crops = torch.as_tensor(calibration_crops(read_export_metadata(path), 3, seed=9))
    fp32 = ONNXDenseModel(path).backbone.dense_features(crops)
    for runtime in ('onnx', 'openvino'):
        int8 = ONNXDenseModel(copy, runtime=runtime).backbone.dense_features(crops)
        error = float((int8 - fp32).abs().max())
        assert 0 < error < 0.1, (runtime, error)  # cosines in [-1, 1]


def test_a_graph_without_transformer_blocks_is_refused():
    proto = onnx.helper.make_model(onnx.helper.make_graph([], 'empty', [], []))
    with pytest.raises(ExportError, match='resblocks'):
        quantizable_matmuls(proto)
