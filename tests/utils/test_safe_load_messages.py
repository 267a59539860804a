"""What a weights file that cannot be loaded holds, in one line (issue 17, item 7)."""
from __future__ import annotations

import contextlib
import os
import pickle

import pytest
import torch

from ovperception.models.clip.weights import load_state_dict_file
from ovperception.utils.safe_load import CheckpointReadError, load_checkpoint_safely


class _RunsCode:
    def __reduce__(self):
        return (os.system, ('echo this must never run',))


def _cases(tmp_path):
    (tmp_path / 'random.pth').write_bytes(bytes(range(256)) * 4)
    (tmp_path / 'empty.pth').write_bytes(b'')
    torch.save({'weight': _RunsCode()}, tmp_path / 'code.pth')
    with open(tmp_path / 'code_plain.pkl', 'wb') as handle:
        pickle.dump({'weight': _RunsCode()}, handle, protocol=4)
    torch.save({'weight': torch.zeros(64)}, tmp_path / 'whole.pth')
    data = (tmp_path / 'whole.pth').read_bytes()
    (tmp_path / 'truncated.pth').write_bytes(data[:len(data) // 2])
    return {'random.pth': 'not a checkpoint', 'empty.pth': 'empty',
            'code.pth': 'refused for safety', 'code_plain.pkl': 'refused for safety',
            'truncated.pth': 'truncated or corrupted'}


@pytest.mark.parametrize('reader', [load_checkpoint_safely, load_state_dict_file])
def test_unloadable_weights_say_what_was_found_never_weights_only_false(tmp_path, reader):
    for name, expected in _cases(tmp_path).items():
        # torch warns that a plain pickle's protocol 4 is not its own before it refuses it
        expected_warning = (pytest.warns(UserWarning, match='pickle protocol')
                            if name.endswith('.pkl') else contextlib.nullcontext())
        with pytest.raises(CheckpointReadError) as caught, expected_warning:
            reader(str(tmp_path / name))
        message = str(caught.value)
        assert expected in message, (name, message)
        assert 'weights_only=False' not in message and '\n' not in message
        if 'code' in name:
            assert 'posix.system' in message or 'os.system' in message or 'nt.system' in message
