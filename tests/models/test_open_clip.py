"""OpenCLIPBackbone on tiny random open_clip towers: parity, dense modes, weights, offline."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import torch

from ovperception.models.clip import open_clip as oc_backbone
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError
from ovperception.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
VIT_MODES = ['vanilla', 'maskclip', 'sclip', 'clearclip', 'naclip']


def build(cfgs, kind: str = 'vit', **kwargs) -> OpenCLIPBackbone:
    name, model_kwargs = cfgs[kind]
    return OpenCLIPBackbone(name, model_kwargs=model_kwargs, **kwargs)


def images(h: int = 64, w: int = 64, b: int = 2, seed: int = 3) -> torch.Tensor:
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ reference last block


def reference_last_block(block, x, mode: str, grid, std: float = 5.0) -> torch.Tensor:
    """The dense-mode formulas written out with einsum, independent of dense_attn."""
    heads, (t, d) = block.attn.num_heads, x.shape[1:]
    y = block.ln_1(x)
    q, k, v = (y @ block.attn.in_proj_weight.T + block.attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (z.reshape(x.shape[0], t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
    s = (d // heads) ** -0.5

    def sm(a, b, bias=0.0):
        return (torch.einsum('bhid,bhjd->bhij', a, b) * s + bias).softmax(-1)

    if mode == 'maskclip':
        attended = v
    elif mode == 'sclip':
        attended = (sm(q, q) + sm(k, k)) @ v
    elif mode == 'clearclip':
        attended = sm(q, q) @ v
    else:  # naclip
        rc = torch.tensor([(i // grid[1], i % grid[1]) for i in range(t - 1)], dtype=x.dtype)
        omega = torch.zeros(t, t)
        omega[1:, 1:] = torch.exp(-torch.cdist(rc, rc) ** 2 / (2 * std ** 2))
        attended = sm(k, k, omega) @ v
    out = block.attn.out_proj(attended.transpose(1, 2).reshape(x.shape[0], t, d))
    if mode in ('clearclip', 'naclip'):
        return out
    x = x + out
    return x + block.mlp(block.ln_2(x))


def tokens_before_last_block(backbone, imgs):
    """Tokens entering the last block via open_clip's own forward_intermediates."""
    layers = len(backbone.visual.transformer.resblocks)
    res = backbone.visual.forward_intermediates(imgs, indices=[layers - 2],
                                                output_extra_tokens=True)
    patches = res['image_intermediates'][0].flatten(2).transpose(1, 2)
    return torch.cat([res['image_intermediates_prefix'][0], patches], dim=1)


# ------------------------------------------------------------------ parity and modes


@pytest.mark.parametrize('kind', ['vit', 'resnet', 'convnext'])
def test_image_embedding_matches_open_clip_encode_image(tiny_clip_configs, kind):
    bb, x = build(tiny_clip_configs, kind), images()
    ref = bb.model.encode_image(x, normalize=True)
    torch.testing.assert_close(bb.image_embedding(x), ref, rtol=1e-5, atol=1e-5)
    assert bb.image_embedding(images(96, 80)).shape == (2, bb.embed_dim)  # pos-embed resized


def test_vanilla_dense_matches_open_clip_tokens(tiny_clip_configs):
    bb, x = build(tiny_clip_configs), images()
    res = bb.visual.forward_intermediates(x, indices=[1], normalize_intermediates=True)
    ref = torch.einsum('bwhk,wc->bchk', res['image_intermediates'][0], bb.visual.proj)
    torch.testing.assert_close(bb.dense_features(x), ref, rtol=1e-5, atol=1e-5)
    inter = bb.dense_intermediates(x, [0, -1])
    ref = bb.visual.forward_intermediates(x, indices=[0, 1])['image_intermediates']
    for got, want in zip(inter, ref):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('mode', VIT_MODES[1:])
def test_dense_modes_match_reference_formulas(tiny_clip_configs, mode):
    bb, x = build(tiny_clip_configs, dense_mode=mode, naclip_gaussian_std=1.5), images()
    tokens = reference_last_block(bb.visual.transformer.resblocks[-1],
                                  tokens_before_last_block(bb, x), mode, (4, 4), std=1.5)
    ref = (bb.visual.ln_post(tokens[:, 1:]) @ bb.visual.proj).transpose(1, 2)
    torch.testing.assert_close(bb.dense_features(x), ref.reshape(2, -1, 4, 4),
                               rtol=1e-4, atol=1e-5)


def test_modes_differ_and_non_multiple_inputs_are_padded(tiny_clip_configs):
    x = images(70, 50)
    outs = {m: build(tiny_clip_configs, dense_mode=m).dense_features(x) for m in VIT_MODES}
    for mode, out in outs.items():
        assert out.shape == (2, 32, 5, 4), mode
        assert torch.isfinite(out).all()
    assert not torch.allclose(outs['vanilla'], outs['clearclip'])
    padded = torch.nn.functional.pad(x, (0, 14, 0, 10))
    bb = build(tiny_clip_configs, dense_mode='sclip')
    torch.testing.assert_close(bb.dense_features(x), bb.dense_features(padded))


@pytest.mark.parametrize('kind', ['resnet', 'convnext'])
def test_cnn_dense_features(tiny_clip_configs, kind):
    bb, x = build(tiny_clip_configs, kind, dense_mode='maskclip'), images(70, 50)
    out = bb.dense_features(x)
    assert out.shape == (2, 32, 3, 2) and bb.patch_size == 32
    stages = bb.dense_intermediates(x, [0, 3])
    assert stages[0].shape[-2:] == (24, 16) and stages[1].shape[-2:] == (3, 2)
    reverse = bb.dense_intermediates(x, [-1, 0])  # any order, negative indices
    torch.testing.assert_close(reverse[0], stages[1])
    torch.testing.assert_close(reverse[1], stages[0])
    if kind == 'resnet':  # MaskCLIP RN value path: c_proj(v_proj(x)) per location
        pool = bb.visual.attnpool
        ref = pool.c_proj(pool.v_proj(stages[1].permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
    else:  # timm head norm, then the open_clip projection per location
        feats = bb.visual.trunk.head.norm(stages[1])
        ref = torch.einsum('bchw,kc->bkhw', feats, bb.visual.head.proj.weight)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='ViT-only'):
        build(tiny_clip_configs, kind, dense_mode='sclip')


def test_dense_features_with_attention(tiny_clip_configs):
    x = images()
    clear = build(tiny_clip_configs, dense_mode='clearclip')
    from ovperception.models.clip.dense_attn import qq_attention
    got = clear.dense_features_with_attention(x, lambda q, k, v, grid: qq_attention(q, k, v))
    torch.testing.assert_close(got, clear.dense_features(x))

    def to_2x2(q, k, v, grid):  # pool values to a coarser grid, patch tokens only
        b, h, _, d = v.shape
        patches = v[:, :, 1:].reshape(b * h, grid[0], grid[1], d).permute(0, 3, 1, 2)
        pooled = torch.nn.functional.adaptive_avg_pool2d(patches, (2, 2))
        return pooled.permute(0, 2, 3, 1).reshape(b, h, 4, d), (2, 2)

    assert clear.dense_features_with_attention(x, to_2x2).shape == (2, 32, 2, 2)
    with pytest.raises(ValueError, match='tokens'):
        clear.dense_features_with_attention(x, lambda q, k, v, grid: v[:, :, :5])


def test_mode_and_block_errors(tiny_clip_configs, tiny_vit_kwargs):
    with pytest.raises(ValueError, match='valid modes'):
        build(tiny_clip_configs, dense_mode='gem')
    tiny_vit_kwargs['vision_cfg']['qk_norm'] = True  # -> CustomResidualAttentionBlock
    with pytest.raises(NotImplementedError, match='CustomResidualAttentionBlock'):
        OpenCLIPBackbone('ViT-B-16', model_kwargs=tiny_vit_kwargs, dense_mode='clearclip')
    with pytest.raises(ValueError, match='schemas'):
        OpenCLIPBackbone('local-dir:/some/dir')


# ------------------------------------------------------------------ module behaviour


def test_frozen_backbone_stays_in_eval_mode(tiny_clip_configs):
    bb = build(tiny_clip_configs)
    assert all(not p.requires_grad for p in bb.parameters())
    bb.train()
    assert not bb.training and not any(m.training for m in bb.modules())
    trainable = build(tiny_clip_configs, frozen=False)
    assert all(p.requires_grad for p in trainable.parameters())
    trainable.train()
    assert trainable.training
    trainable.dense_features(images(32, 32)).sum().backward()
    assert trainable.visual.conv1.weight.grad is not None


def test_attributes_text_and_registry(tiny_clip_configs, monkeypatch):
    bb = MODELS.build(dict(type='OpenCLIPBackbone', model_name='ViT-B-16',
                           model_kwargs=tiny_clip_configs['vit'][1]))
    assert isinstance(bb, OpenCLIPBackbone)
    assert bb.embed_dim == 32 and bb.patch_size == 16
    assert bb.mean == pytest.approx((122.7709383, 116.7460125, 104.09373615))
    assert bb.std == pytest.approx((68.5005327, 66.6321579, 70.32316305))
    assert bb.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)
    assert bb.weights_id == f'ViT-B-16:random:{id(bb)}'
    texts = ['a photo of a cat', 'a dog', 'sky', 'grass', 'a tree']
    emb = bb.encode_text(texts)
    assert emb.shape == (5, 32) and not emb.requires_grad
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(5))
    monkeypatch.setattr(oc_backbone, 'TEXT_CHUNK', 2)
    torch.testing.assert_close(bb.encode_text(texts), emb, rtol=1e-5, atol=1e-6)
    assert bb.encode_text([]).shape == (0, 32)
    # files / random init of a model whose tags all share stats (SigLIP) use those stats
    mean, std = oc_backbone.normalisation_stats('ViT-B-16-SigLIP', {}, bb.model)
    assert mean == std == (0.5, 0.5, 0.5)


# ------------------------------------------------------------------ weights


def test_round_trip_and_checkpoint_formats(tiny_clip_configs, tmp_path):
    src, x = build(tiny_clip_configs, dense_mode='naclip'), images()
    path = tmp_path / 'tiny.pt'
    torch.save(src.model.state_dict(), path)
    wrapped = tmp_path / 'ddp.pth'
    torch.save({'epoch': 3, 'state_dict': {'module.' + k: v
                                           for k, v in src.model.state_dict().items()}}, wrapped)
    whole = tmp_path / 'backbone.pth'
    torch.save(src.state_dict(), whole)  # keys prefixed with 'model.'
    for file in (path, wrapped, whole):
        torch.manual_seed(123)
        bb = build(tiny_clip_configs, pretrained=str(file), dense_mode='naclip')
        torch.testing.assert_close(bb.dense_features(x), src.dense_features(x))
        torch.testing.assert_close(bb.encode_text(['a cat']), src.encode_text(['a cat']))
    assert bb.weights_id.startswith('ViT-B-16:file:') and len(bb.weights_id) == 14 + 40
    again = build(tiny_clip_configs, pretrained=str(whole))
    assert again.weights_id == bb.weights_id


def test_mismatched_checkpoint_and_missing_file(tiny_clip_configs, tiny_vit_kwargs, tmp_path):
    tiny_vit_kwargs['vision_cfg']['width'] = 96
    other = OpenCLIPBackbone('ViT-B-16', model_kwargs=tiny_vit_kwargs)
    path = tmp_path / 'wide.pt'
    torch.save(other.model.state_dict(), path)
    with pytest.raises(CheckpointMismatchError) as err:
        build(tiny_clip_configs, pretrained=str(path))
    msg = str(err.value)
    assert "'ViT-B-16'" in msg and str(path) in msg and 'shape mismatches' in msg
    assert 'visual.conv1.weight (model (64, 3, 16, 16), file (96, 3, 16, 16))' in msg
    partial = {k: v for k, v in build(tiny_clip_configs).model.state_dict().items()
               if not k.startswith('visual.ln_post')}
    partial['extra.weight'] = torch.zeros(1)
    torch.save(partial, path)
    with pytest.raises(CheckpointMismatchError, match=r'2 missing keys: visual\.ln_post\.bias'):
        build(tiny_clip_configs, pretrained=str(path))
    with pytest.raises(WeightsNotFoundError, match='nowhere/w.pt'):
        build(tiny_clip_configs, pretrained='/nowhere/w.pt')
    with pytest.raises(WeightsNotFoundError, match='w.safetensors'):
        build(tiny_clip_configs, pretrained='w.safetensors')


def test_uncached_tag_fails_fast_offline(tiny_clip_configs, tmp_path):
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as err:  # DownloadAttempted would be a bug
        build(tiny_clip_configs, pretrained='openai', cache_dir=str(tmp_path))
    assert time.monotonic() - start < 2.0
    msg = str(err.value)
    assert "'openai'" in msg and 'cannot download' in msg
    assert 'python tools/download_weights.py ViT-B-16 openai' in msg
    assert 'pretrained=/path/to/file' in msg and '--weights PATH' in msg
    with pytest.raises(ValueError, match=r"valid tags: \[.*'laion2b_s34b_b88k'"):
        build(tiny_clip_configs, pretrained='no_such_tag')


def _write_hf_cache(root: Path, repo_id: str, filename: str, state: dict) -> None:
    repo = root / ('models--' + repo_id.replace('/', '--'))
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('0123abcd')
    (repo / 'snapshots' / '0123abcd').mkdir(parents=True)
    torch.save(state, repo / 'snapshots' / '0123abcd' / filename)


def test_tag_loads_from_local_caches(tiny_clip_configs, tmp_path, monkeypatch):
    src, x = build(tiny_clip_configs), images()
    _write_hf_cache(tmp_path, 'laion/CLIP-ViT-B-16-laion2B-s34B-b88K',
                    'open_clip_pytorch_model.bin', src.model.state_dict())
    bb = build(tiny_clip_configs, pretrained='laion2b_s34b_b88k', cache_dir=str(tmp_path))
    assert bb.weights_id == 'ViT-B-16:laion2b_s34b_b88k'
    torch.testing.assert_close(bb.dense_features(x), src.dense_features(x))
    # url-style cache (open_clip's ~/.cache/clip layout); OpenAI weights need QuickGELU
    name, kwargs = tiny_clip_configs['vit']
    src_q = OpenCLIPBackbone(name, model_kwargs=dict(kwargs, quick_gelu=True))
    torch.save(src_q.model.state_dict(), tmp_path / 'ViT-B-16.pt')
    # the cached file is checked against the SHA-256 in the release URL: a file that is not
    # the official one is removed, never used
    with pytest.raises(WeightsNotFoundError):
        build(tiny_clip_configs, pretrained='openai', cache_dir=str(tmp_path))
    assert not (tmp_path / 'ViT-B-16.pt').exists()
    torch.save(src_q.model.state_dict(), tmp_path / 'ViT-B-16.pt')
    from ovperception.models.clip import weights
    from ovperception.utils.download import sha256_of
    monkeypatch.setattr(weights, 'url_sha256', lambda url: sha256_of(str(tmp_path / 'ViT-B-16.pt')))
    bb = build(tiny_clip_configs, pretrained='openai', cache_dir=str(tmp_path))
    assert bb.weights_id == 'ViT-B-16:openai'
    assert type(bb.visual.transformer.resblocks[0].mlp.gelu).__name__ == 'QuickGELU'
    torch.testing.assert_close(bb.dense_features(x), src_q.dense_features(x))


# ------------------------------------------------------------------ tools/download_weights.py


def _tool():
    spec = importlib.util.spec_from_file_location('download_weights',
                                                  ROOT / 'tools' / 'download_weights.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_download_tool_lists_tags_and_fails_fast_offline(capsys, tmp_path):
    tool = _tool()
    assert tool.main(['ViT-B-16', '--list']) == 0
    assert 'laion2b_s34b_b88k' in capsys.readouterr().out.split()
    with pytest.raises(WeightsNotFoundError, match='HF_HUB_OFFLINE=1 is set'):
        tool.main(['ViT-B-16', 'openai', '--cache-dir', str(tmp_path)])
    with pytest.raises(ValueError, match='valid tags'):
        tool.main(['ViT-B-16', 'nope'])


def test_weight_file_formats(tmp_path):
    from safetensors.torch import save_file

    from ovperception.models.clip.weights import load_state_dict_file, looks_like_path

    class Jit(torch.nn.Module):  # OpenAI's releases are TorchScript archives like this one
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(2, 3)
            self.register_buffer('input_resolution', torch.tensor(224))

        def forward(self, x):
            return self.proj(x)

    jit = torch.jit.script(Jit())
    jit.save(str(tmp_path / 'jit.pt'))
    state = load_state_dict_file(str(tmp_path / 'jit.pt'))
    assert sorted(state) == ['proj.bias', 'proj.weight']
    torch.testing.assert_close(state['proj.weight'], jit.proj.weight)
    save_file({'a.weight': torch.ones(2)}, str(tmp_path / 'w.safetensors'))
    assert load_state_dict_file(str(tmp_path / 'w.safetensors'))['a.weight'].sum() == 2
    torch.save({'model': {'w': torch.ones(1)}, 'meta': 'x'}, tmp_path / 'm.pth')
    assert list(load_state_dict_file(str(tmp_path / 'm.pth'))) == ['w']
    torch.save([1, 2], tmp_path / 'bad.pth')
    with pytest.raises(CheckpointMismatchError, match='expected a state dict'):
        load_state_dict_file(str(tmp_path / 'bad.pth'))
    assert looks_like_path('ckpt/x') and looks_like_path('x.bin') and not looks_like_path('openai')


def test_download_tool_prints_the_path(capsys, tmp_path, monkeypatch):
    tool = _tool()
    target = tmp_path / 'open_clip_model.safetensors'
    import ovperception.models.clip.open_clip as open_clip_module  # imported by main, lazily
    monkeypatch.setattr(open_clip_module, 'download_pretrained_weights',
                        lambda model, tag, cache_dir=None: str(target))
    assert tool.main(['ViT-B-16', 'openai', '--cache-dir', str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(target)
    with pytest.raises(SystemExit):
        tool.main(['ViT-B-16'])  # a tag is required without --list
