"""FC-CLIP's released checkpoints: the official layouts (name -> shape of the ConvNeXt-L and
RN50x64 models, taken from the official constructors, tests/fixtures/golden/fcclip/NOTE.md)
convert 1:1 onto our configs; detectron2 .pkl files are read without running code; the CLI
and --weights accept the official files. The forward on converted weights is checked against
the official outputs in test_fcclip_golden.py."""
from __future__ import annotations

import datetime
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ovperception.models.checkpoint import load_weights
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter
from ovperception.models.panoptic.convert import convert_fcclip, is_fcclip_checkpoint
from tests.models.golden import load_into_config_on_meta, official_layout
from tests.models.test_fcclip_golden import build_tiny_official, official_state
from tests.scripts import load_script


@pytest.mark.parametrize('name', ['convnext_large', 'rn50x64'])
def test_official_layout_converts_and_loads_strictly(name, monkeypatch):
    official = official_layout('fcclip', name)
    assert is_fcclip_checkpoint(official)
    converted = convert_fcclip(official)
    load_into_config_on_meta(f'configs/_base_/models/fcclip_{name}.py', converted, monkeypatch)
    assert len(converted) == len(official) - 1  # criterion.empty_weight is training-only


def test_unmatched_official_keys_are_named():
    state = official_state()
    state['sem_seg_head.predictor.extra_head.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='extra_head'):
        convert_fcclip(state)


def _write_pkl(path, state):
    with open(path, 'wb') as handle:
        pickle.dump({'model': {k: v.numpy() for k, v in state.items()}, '__author__': 'test',
                     'matching_heuristics': True}, handle)


def test_pkl_and_pth_releases_convert_with_the_tool_and_load_with_weights(tmp_path):
    state = official_state()
    pkl, pth = tmp_path / 'fcclip.pkl', tmp_path / 'fcclip_d2.pth'
    _write_pkl(pkl, state)
    torch.save({'model': state, 'iteration': 368750}, pth)
    tool = load_script('tools/convert_checkpoint.py')
    expected = convert_fcclip(state)
    for source in (pkl, pth):
        dst = tmp_path / f'{source.stem}_ours.pth'
        assert tool.main(['fcclip', str(source), str(dst)]) == 0
        written = torch.load(dst, weights_only=True)['state_dict']
        assert written.keys() == expected.keys()
        assert all(torch.equal(written[k], expected[k]) for k in expected)
    model = build_tiny_official()
    load_weights(model, str(pkl))  # the official file directly: converted on load
    assert torch.equal(model.mask_decoder.query_pos.weight,
                       state['sem_seg_head.predictor.query_embed.weight'])
    assert torch.equal(model.void_embedding, state['void_embedding.weight'][0])


def test_a_pickle_that_needs_code_is_refused_with_the_trusted_command(tmp_path):
    path = tmp_path / 'suspicious.pkl'
    with open(path, 'wb') as handle:
        pickle.dump({'model': {'void_embedding.weight': np.zeros((1, 2))},
                     'when': datetime.date(2023, 1, 1)}, handle)
    tool = load_script('tools/convert_checkpoint.py')
    with pytest.raises(CheckpointMismatchError, match=r'datetime\.date.*python -c'):
        tool.main(['fcclip', str(path), str(tmp_path / 'out.pth')])
    assert find_converter({'void_embedding.weight': 0}) is None


@pytest.mark.parametrize('name,short,long', [('ade20k_800', 800, 1333),
                                             ('ade20k_panoptic_800', 800, 1333),
                                             ('cityscapes_1024', 1024, 2560)])
def test_zero_shot_configs_use_the_official_test_protocol(name, short, long):
    from ovperception.models.panoptic import MSDeformAttnPixelDecoder
    cfg = Config.fromfile(f'configs/segmentation/fcclip_convnext_large_{name}.py')
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert (resize.short_side, resize.max_long_side) == (short, long)
    assert cfg.model.test_cfg.object_mask_threshold == 0.0
    assert cfg.model.test_cfg.overlap_threshold == 0.8
    assert cfg.model.pixel_decoder.type is MSDeformAttnPixelDecoder
    assert cfg.model.ensemble_on_valid_mask is False
    assert (cfg.model.alpha, cfg.model.beta, cfg.model.mask_decoder.num_queries) == (0.4, 0.8, 250)
