"""The tiny SCLIP model and its float32 ONNX export, made once for the deploy tests."""
from __future__ import annotations

import os

import pytest
import torch

from ovperception.apis import init_model
from tests.scripts import ROOT, load_script

SEG_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
VOCAB = ['cat', 'dog; puppy', 'grass', 'sky', 'road']


@pytest.fixture(scope='session')
def exported(tmp_path_factory):
    """(PyTorch model, path of its ONNX export), exported once through the command line."""
    tool = load_script('tools/export_onnx.py')
    path = str(tmp_path_factory.mktemp('onnx') / 'seg_tiny.onnx')
    torch.manual_seed(0)
    assert tool.main([SEG_TINY, '--vocab', ', '.join(VOCAB), '--out', path, '--check', '1']) == 0
    torch.manual_seed(0)  # the same random tiny backbone as the tool's
    return init_model(SEG_TINY, None, 'cpu'), path
