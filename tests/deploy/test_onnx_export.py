"""tools/export_onnx.py and ONNXDenseModel on a tiny SCLIP model: parity with PyTorch."""
from __future__ import annotations

import os

import pytest
import torch

from ovperception.apis import init_model
from ovperception.deploy import ExportError, ONNXDenseModel, check_exportable, read_export_metadata
from ovperception.deploy.parity import label_agreement
from tests.deploy.conftest import SEG_TINY, VOCAB
from tests.scripts import ROOT, load_script


def test_onnx_labels_agree_with_pytorch(exported):
    model, path = exported
    meta = read_export_metadata(path)
    assert meta['classnames'] == VOCAB and meta['input_size'] == [64, 64]
    assert meta['head']['type'] == 'ovperception.DenseSimilarityHead'
    onnx_model = ONNXDenseModel(path)
    for stat in ('mean', 'std'):  # standalone use normalises as the PyTorch model does
        torch.testing.assert_close(getattr(onnx_model.data_preprocessor, stat),
                                   getattr(model.data_preprocessor, stat))
    agreement = label_agreement(model, onnx_model, VOCAB, num_images=2, size=(96, 160))
    assert agreement >= 0.999
    # Another vocabulary, or crops of another size, are refused with the fix.
    with pytest.raises(ValueError, match='export again with --vocab'):
        onnx_model.encode_vocabulary(['cat'])
    with pytest.raises(ValueError, match='--size'):
        onnx_model.backbone.dense_features(torch.zeros(1, 3, 32, 32))


def test_the_graph_output_equals_backbone_and_head(exported):
    model, path = exported
    onnx_model = ONNXDenseModel(path)
    crops = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model.head(model.backbone.dense_features(crops), model.encode_vocabulary(VOCAB))
    torch.testing.assert_close(onnx_model.backbone.dense_features(crops), expected,
                               rtol=1e-4, atol=1e-4)


def test_models_that_need_images_or_crops_are_refused():
    det = init_model(os.path.join(ROOT, 'configs', 'tiny', 'det_tiny.py'), None, 'cpu')
    with pytest.raises(ExportError, match='re-encodes crops'):
        check_exportable(det)
    excel = init_model(os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel.py'), None, 'cpu')
    with pytest.raises(ExportError, match='no dense head') as error:  # not a TypeError
        check_exportable(excel)
    assert '\n' not in str(error.value)


def test_benchmark_runtime_onnx_times_the_export_against_the_pytorch_floor(tmp_path, capsys):
    tool = load_script('tools/benchmark.py')
    report = tool.main([SEG_TINY, '--runtime', 'onnx', '--images', '1', '--warmup', '0',
                        '--size', '64x96', '--vocab-size', '3', '--out', str(tmp_path)])
    assert report['meta']['runtime'] == 'onnx'
    assert os.path.isfile(tmp_path / 'onnx' / 'vocab3.onnx')
    (row,) = report['results']
    assert row['crops_per_image'] == 2 and row['floor_ms'] > 0 and row['stages_ms']['backbone'] > 0
    with pytest.raises(SystemExit):  # refused while parsing, before any model is built
        tool.main([SEG_TINY, '--runtime', 'onnx', '--amp', 'bf16', '--out', str(tmp_path)])
    assert 'float32' in capsys.readouterr().err


def test_int8_quantisation_keeps_the_metadata_and_stays_close(exported, tmp_path):
    import shutil

    import onnx

    from ovperception.deploy.onnx_export import quantize_int8
    model, path = exported
    copy = str(tmp_path / 'int8.onnx')
    shutil.copy(path, copy)
    quantize_int8(copy)
    ops = {node.op_type for node in onnx.load(copy).graph.node}
    assert 'DynamicQuantizeLinear' in ops and ('MatMulInteger' in ops or 'DynamicQuantizeMatMul' in ops)
    crops = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    fp32 = ONNXDenseModel(path).backbone.dense_features(crops)
    int8 = ONNXDenseModel(copy).backbone.dense_features(crops)  # metadata survived
    assert 0 < float((int8 - fp32).abs().max()) < 0.1  # cosines in [-1, 1]


PAMR_OPTIONS = {'model.head.score_refiner': dict(type='PAMRRefiner', num_iter=3, dilations=(1, 2)),
                'model.backbone.dense_mode': 'naclip'}


def test_pamr_runs_after_the_exported_graph_as_in_pytorch(tmp_path):
    """NACLIP + PAMR: the graph holds backbone + head, PAMR (no weights) follows in PyTorch."""
    from ovperception.deploy import export_onnx
    torch.manual_seed(0)
    model = init_model(SEG_TINY, None, 'cpu', cfg_options=PAMR_OPTIONS)
    path = export_onnx(model, VOCAB, str(tmp_path / 'pamr.onnx'))
    meta = read_export_metadata(path)
    assert meta['head']['score_refiner']['type'].endswith('PAMRRefiner')
    onnx_model = ONNXDenseModel(path)
    assert type(onnx_model.head.score_refiner).__name__ == 'PAMRRefiner'
    assert onnx_model.head.score_refiner.num_iter == 3
    assert label_agreement(model, onnx_model, VOCAB, num_images=2, size=(96, 160)) >= 0.999


def test_model_refiners_travel_with_the_export_and_networks_are_refused(tmp_path):
    from ovperception.deploy import export_onnx
    torch.manual_seed(0)
    model = init_model(SEG_TINY, None, 'cpu', cfg_options={
        'model.refiners': [dict(type='PAMRRefiner', num_iter=2, dilations=(1,))]})
    path = export_onnx(model, VOCAB, str(tmp_path / 'refined.onnx'))
    assert [type(r).__name__ for r in ONNXDenseModel(path).refiners] == ['PAMRRefiner']
    sam = init_model(os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_sam.py'), None, 'cpu')
    with pytest.raises(ExportError, match='run networks on the images'):
        check_exportable(sam)


def test_proxyclip_exports_with_its_dino_proxy(tmp_path):
    tool = load_script('tools/export_onnx.py')
    config = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_proxyclip.py')
    out = str(tmp_path / 'proxyclip.onnx')
    assert tool.main([config, '--vocab', ', '.join(VOCAB), '--out', out, '--check', '1']) == 0
    assert read_export_metadata(out)['classnames'] == VOCAB
