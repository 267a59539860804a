"""DINOEncoder: shapes for any size, re-normalisation, last-block q/k/v, weights loading."""
from __future__ import annotations

import pytest
import torch

from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError
from ovperception.models.data_preprocessor import CLIP_MEAN, CLIP_STD
from ovperception.models.refiners.dino import (IMAGENET_MEAN, IMAGENET_STD, DINOEncoder,
                                               convert_official_dino, renormalize)
from tests.tiny_dino import TINY_DINO_KWARGS


def tiny_dino(arch: str = 'vit_small_patch16_224', **kwargs) -> DINOEncoder:
    torch.manual_seed(0)
    return DINOEncoder(arch, model_kwargs=dict(TINY_DINO_KWARGS, **kwargs))


@pytest.fixture(scope='module')
def dino() -> DINOEncoder:
    return tiny_dino()


@pytest.mark.parametrize('size', [(64, 64), (50, 70), (16, 16), (9, 100)])
def test_any_input_size_gives_the_ceil_grid(dino, size):
    out = dino(torch.rand(2, 3, *size) * 255, with_qkv=True)
    grid = (-(-size[0] // 16), -(-size[1] // 16))
    assert out.grid == grid and out.patches.shape == (2, 32, *grid)
    assert out.q.shape == (2, 2, 1 + grid[0] * grid[1], 16)
    assert out.qkv_maps('k').shape == (2, 32, *grid)
    assert torch.isfinite(out.patches).all()


def test_clip_normalised_input_equals_rgb_input(dino):
    rgb = torch.rand(1, 3, 32, 48) * 255
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    from_clip = dino((rgb - mean) / std, CLIP_MEAN, CLIP_STD).patches
    torch.testing.assert_close(from_clip, dino(rgb).patches, atol=1e-4, rtol=1e-4)


def test_renormalize_known_answer():
    rgb = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) + torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(renormalize(rgb, None, None), torch.ones(1, 3, 1, 1))
    with pytest.raises(ValueError, match='both mean and std'):
        renormalize(rgb, CLIP_MEAN, None)


def test_last_block_qkv_reproduce_the_block_attention(dino):
    """softmax(q k^T / sqrt(d)) v, projected, equals timm's attention of the last block."""
    x = torch.rand(1, 3, 48, 48) * 255
    out = dino(x, with_qkv=True)
    model = dino.model
    tokens = model.norm_pre(model._pos_embed(model.patch_embed(renormalize(x, None, None))))
    for block in model.blocks[:-1]:
        tokens = block(tokens)
    last = model.blocks[-1]
    expected = last.attn(last.norm1(tokens))
    attn = torch.softmax(out.q @ out.k.transpose(-2, -1) * out.q.shape[-1] ** -0.5, dim=-1)
    mixed = (attn @ out.v).transpose(1, 2).reshape(1, -1, 32)
    torch.testing.assert_close(last.attn.proj(mixed), expected, atol=1e-5, rtol=1e-4)


def test_qkv_maps_need_with_qkv(dino):
    with pytest.raises(ValueError, match='with_qkv=True'):
        dino(torch.rand(1, 3, 32, 32)).qkv_maps('k')


def test_dinov2_architecture_with_patch14():
    dino = tiny_dino('vit_small_patch14_dinov2', img_size=56)
    out = dino(torch.rand(1, 3, 30, 60) * 255)
    assert dino.patch_size == 14 and out.patches.shape == (1, 32, 3, 5)


def test_frozen_and_stays_in_eval(dino):
    dino.train()
    assert not dino.training and not any(p.requires_grad for p in dino.parameters())


# ------------------------------------------------------------------ weights
def test_timm_state_dict_round_trip(tmp_path):
    source = tiny_dino()
    path = tmp_path / 'dino.pth'
    torch.save(source.model.state_dict(), path)
    torch.manual_seed(123)
    loaded = DINOEncoder('vit_small_patch16_224', str(path), model_kwargs=TINY_DINO_KWARGS)
    image = torch.rand(1, 3, 32, 32) * 255
    torch.testing.assert_close(loaded(image).patches, source(image).patches)
    assert 'file:' in loaded.weights_id


def test_official_dino_training_checkpoint_layout_loads(tmp_path):
    source = tiny_dino()
    teacher = {f'backbone.{k}': v for k, v in source.model.state_dict().items()}
    teacher['head.mlp.0.weight'] = torch.zeros(4, 4)
    path = tmp_path / 'dino_checkpoint.pth'
    torch.save({'teacher': teacher, 'student': {}, 'epoch': 100}, path)
    loaded = DINOEncoder('vit_small_patch16_224', str(path), model_kwargs=TINY_DINO_KWARGS)
    image = torch.rand(1, 3, 32, 32) * 255
    torch.testing.assert_close(loaded(image).patches, source(image).patches)


def test_official_dinov2_layout_is_converted():
    state = {'mask_token': torch.zeros(1, 8), 'register_tokens': torch.zeros(1, 4, 8),
             'blocks.0.3.norm1.weight': torch.ones(8), 'blocks.2.attn.qkv.weight': torch.ones(2),
             'head.weight': torch.ones(1)}
    converted = convert_official_dino(state)
    assert set(converted) == {'reg_token', 'blocks.3.norm1.weight', 'blocks.2.attn.qkv.weight'}


def test_official_dinov2_file_loads(tmp_path):
    source = tiny_dino('vit_small_patch14_dinov2', img_size=56)
    state = dict(source.model.state_dict(), mask_token=torch.zeros(1, 32))
    path = tmp_path / 'dinov2_vits14_pretrain.pth'
    torch.save(state, path)
    loaded = DINOEncoder('vit_small_patch14_dinov2', str(path),
                         model_kwargs=dict(TINY_DINO_KWARGS, img_size=56))
    image = torch.rand(1, 3, 28, 28) * 255
    torch.testing.assert_close(loaded(image).patches, source(image).patches)


def test_wrong_architecture_checkpoint_is_a_mismatch(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save(tiny_dino(embed_dim=64).model.state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        DINOEncoder('vit_small_patch16_224', str(path), model_kwargs=TINY_DINO_KWARGS)


def test_missing_file_names_the_file_and_the_fix(tmp_path):
    missing = str(tmp_path / 'dino_vitbase16_pretrain.pth')
    with pytest.raises(WeightsNotFoundError, match='dino_vitbase16_pretrain.pth') as info:
        DINOEncoder('vit_base_patch16_224', missing)
    assert 'tools/download_weights.py --dino vit_base_patch16_224.dino' in str(info.value)


def test_tag_is_looked_up_in_the_local_cache_only(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    with pytest.raises(WeightsNotFoundError, match='not in the local cache') as info:
        DINOEncoder('vit_base_patch8_224', 'dino', cache_dir=str(tmp_path / 'hf'))
    message = str(info.value)
    assert 'models--timm--vit_base_patch8_224.dino' in message
    assert 'dino_vitbase8_pretrain.pth' in message
    assert 'python tools/download_weights.py --dino vit_base_patch8_224.dino' in message


def test_tag_found_in_the_hub_checkpoint_folder(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    folder = tmp_path / 'torch' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True)
    source = tiny_dino()
    torch.save(source.model.state_dict(), folder / 'dino_deitsmall16_pretrain.pth')
    loaded = DINOEncoder('vit_small_patch16_224', 'default', cache_dir=str(tmp_path / 'hf'),
                         model_kwargs=TINY_DINO_KWARGS)
    image = torch.rand(1, 3, 32, 32) * 255
    torch.testing.assert_close(loaded(image).patches, source(image).patches)


def test_download_tool_fetches_the_timm_repo_of_the_tag(local_hub, capsys):
    from tests.scripts import load_script
    tool = load_script('tools/download_weights.py')
    local_hub.add('timm/vit_base_patch8_224.dino', 'model.safetensors', b'weights')
    assert tool.main(['--dino', 'vit_base_patch8_224.dino']) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    assert 'models--timm--vit_base_patch8_224.dino' in path and open(path, 'rb').read() == b'weights'
    with pytest.raises(SystemExit):
        tool.main(['--dino', 'vit_base_patch8_224'])


def test_tag_is_downloaded_on_first_use(local_hub, tmp_path, monkeypatch):
    from safetensors.torch import save
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    source = tiny_dino()
    local_hub.add('timm/vit_small_patch16_224.dino', 'model.safetensors',
                  save({k: v.contiguous() for k, v in source.model.state_dict().items()}))
    loaded = DINOEncoder('vit_small_patch16_224', 'dino', model_kwargs=TINY_DINO_KWARGS)
    image = torch.rand(1, 3, 32, 32) * 255
    torch.testing.assert_close(loaded(image).patches, source(image).patches)
