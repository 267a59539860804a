"""``--runtime openvino``: the ONNX export run by OpenVINO (float32) inside OVModel's windows
and stitching gives PyTorch's labels and logits; OpenVINO never starts its telemetry."""
from __future__ import annotations

import pytest
import torch

from ovperception.benchmarking.runner import make_batch, structured_images
from ovperception.deploy import ONNXDenseModel
from ovperception.deploy.parity import label_agreement
from tests.deploy.conftest import SEG_TINY, VOCAB
from tests.scripts import load_script

pytest.importorskip('openvino', reason="needs pip install 'ovperception[openvino]'")


@pytest.fixture
def no_telemetry(monkeypatch):
    """Fail loudly if OpenVINO's telemetry is started or its converter (which starts it)
    is called; the test session's socket guard already fails on any non-local connection."""
    import openvino
    import openvino_telemetry

    def refuse(*args, **kwargs):
        raise AssertionError('OpenVINO telemetry / convert_model must not be used')
    monkeypatch.setattr(openvino_telemetry.Telemetry, 'init', refuse)
    monkeypatch.setattr(openvino_telemetry.Telemetry, 'send_event', refuse)
    monkeypatch.setattr(openvino, 'convert_model', refuse)


def test_openvino_gives_pytorch_labels_and_logits(exported, no_telemetry):
    model, path = exported
    openvino_model = ONNXDenseModel(path, runtime='openvino')
    assert openvino_model.backbone.weights_id.startswith('openvino:')
    crops = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model.head(model.backbone.dense_features(crops), model.encode_vocabulary(VOCAB))
    torch.testing.assert_close(openvino_model.backbone.dense_features(crops), expected,
                               rtol=1e-4, atol=1e-4)
    # whole pipeline (overlapping windows, stitching, post-processing): the same labels
    for image in structured_images(2, (96, 160), seed=3):
        labels = []
        for runner in (model, openvino_model):
            with torch.no_grad():
                data = model.data_preprocessor(make_batch([image], VOCAB), False)
                labels.append(runner.predict(data['inputs'], data['data_samples'])[0]
                              .pred_sem_seg.data)
        assert torch.equal(labels[0], labels[1])
    assert label_agreement(model, openvino_model, VOCAB, num_images=1, size=(96, 160)) == 1.0


def test_unknown_runtime_and_missing_file_are_one_line_errors(exported):
    _, path = exported
    with pytest.raises(ValueError, match='runtime must be one of'):
        ONNXDenseModel(path, runtime='tensorrt')
    with pytest.raises(FileNotFoundError, match='not found'):
        ONNXDenseModel(path + '.missing', runtime='openvino')


def test_benchmark_runtime_openvino(tmp_path, no_telemetry):
    tool = load_script('tools/benchmark.py')
    report = tool.main([SEG_TINY, '--runtime', 'openvino', '--images', '1', '--warmup', '0',
                        '--size', '64x96', '--vocab-size', '3', '--threads', '1',
                        '--out', str(tmp_path)])
    assert report['meta']['runtime'] == 'openvino'
    (row,) = report['results']
    assert row['crops_per_image'] == 2 and row['floor_ms'] > 0 and row['stages_ms']['backbone'] > 0
