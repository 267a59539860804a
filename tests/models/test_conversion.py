"""The registry of official-checkpoint converters, `--weights` conversion on load, the CLI."""
from __future__ import annotations

import pytest
import torch

from ovperception.models import checkpoint, conversion
from ovperception.models.conversion import CheckpointConverter, register_converter
from tests.scripts import load_script


@pytest.fixture
def toy_converter():
    converter = CheckpointConverter(
        name='toy_official', description='a toy layout for tests',
        detect=lambda state: any(k.startswith('toy_official.') for k in state),
        convert=lambda state: {'head.' + k.split('.', 1)[1]: v for k, v in state.items()})
    register_converter(converter)
    yield converter
    conversion.CONVERTERS.pop('toy_official')


def test_an_official_file_is_recognised_and_converted_on_load(tmp_path, toy_converter):
    path = tmp_path / 'official.pth'
    torch.save({'model': None, 'state_dict': {'toy_official.w': torch.ones(2)}}, path)
    state = checkpoint.read_state_dict(str(path))
    assert list(state) == ['head.w'] and torch.equal(state['head.w'], torch.ones(2))
    assert checkpoint.read_raw_state_dict(str(path)).keys() == {'toy_official.w'}


def test_a_second_converter_with_the_same_name_is_refused(toy_converter):
    with pytest.raises(KeyError, match='already registered'):
        register_converter(CheckpointConverter('toy_official', '', lambda s: False, dict))
    with pytest.raises(KeyError, match='unknown checkpoint format'):
        conversion.get_converter('no_such_format')


def test_convert_checkpoint_tool_writes_a_loadable_file(tmp_path, toy_converter):
    tool = load_script('tools/convert_checkpoint.py')
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'ours.pth'
    torch.save({'toy_official.w': torch.arange(3.0)}, src)
    assert tool.main(['toy_official', str(src), str(dst)]) == 0
    loaded = torch.load(dst, weights_only=True)['state_dict']
    assert torch.equal(loaded['head.w'], torch.arange(3.0))
    torch.save({'other.w': torch.zeros(1)}, src)
    with pytest.raises(ValueError, match='not a toy_official checkpoint'):
        tool.main(['toy_official', str(src), str(dst)])
    with pytest.raises(ValueError, match='overwrite the input'):
        tool.main(['toy_official', str(src), str(src)])
