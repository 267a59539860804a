"""Attention variants vs naive per-token loops written from the formulas, plus known answers."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ovperception.models.clip import dense_attn as da

# ------------------------------------------------------------------ naive references


def naive_weights(a: torch.Tensor, b: torch.Tensor, bias=None) -> list[list[float]]:
    """softmax_j(s * <a_i, b_j> + bias_ij) for one (T, d) head, with python loops."""
    t, d = a.shape
    s = d ** -0.5
    rows = []
    for i in range(t):
        logits = []
        for j in range(t):
            dot = sum(float(a[i, c]) * float(b[j, c]) for c in range(d))
            logits.append(s * dot + (bias(i, j) if bias else 0.0))
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        total = sum(exps)
        rows.append([e / total for e in exps])
    return rows


def naive_apply(weights: list[list[float]], v: torch.Tensor) -> torch.Tensor:
    t, d = v.shape
    out = torch.zeros(t, d, dtype=torch.float64)
    for i in range(t):
        for j in range(t):
            for c in range(d):
                out[i, c] += weights[i][j] * float(v[j, c])
    return out


def naive_attention(q, k, v, kind: str, grid=None, std=5.0) -> torch.Tensor:
    """Loop over batch and heads; ``kind`` in vanilla / csa / qq / naclip."""
    def omega(i: int, j: int) -> float:
        if i == 0 or j == 0:
            return 0.0
        ri, ci = divmod(i - 1, grid[1])
        rj, cj = divmod(j - 1, grid[1])
        return math.exp(-((ri - rj) ** 2 + (ci - cj) ** 2) / (2 * std ** 2))

    out = torch.zeros(q.shape, dtype=torch.float64)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            qh, kh, vh = q[b, h], k[b, h], v[b, h]
            if kind == 'vanilla':
                out[b, h] = naive_apply(naive_weights(qh, kh), vh)
            elif kind == 'csa':
                out[b, h] = (naive_apply(naive_weights(qh, qh), vh)
                             + naive_apply(naive_weights(kh, kh), vh))
            elif kind == 'qq':
                out[b, h] = naive_apply(naive_weights(qh, qh), vh)
            elif kind == 'naclip':
                out[b, h] = naive_apply(naive_weights(kh, kh, omega), vh)
    return out


def _qkv(t: int = 7, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 2, t, 4, generator=g) for _ in range(3)]


# ------------------------------------------------------------------ attention functions


@pytest.mark.parametrize('kind,fn', [('vanilla', da.vanilla_attention),
                                     ('csa', da.csa_attention), ('qq', da.qq_attention)])
def test_attention_matches_naive_loops(kind, fn):
    q, k, v = _qkv()
    torch.testing.assert_close(fn(q, k, v).double(), naive_attention(q, k, v, kind),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('std', [5.0, 0.7])
def test_neighbourhood_attention_matches_naive_loops(std):
    q, k, v = _qkv(t=1 + 2 * 3)
    got = da.neighbourhood_attention(q, k, v, grid_hw=(2, 3), std=std)
    torch.testing.assert_close(got.double(), naive_attention(q, k, v, 'naclip', (2, 3), std),
                               rtol=1e-5, atol=1e-5)


def test_vanilla_matches_torch_sdpa():
    q, k, v = _qkv()
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(da.vanilla_attention(q, k, v), ref, rtol=1e-5, atol=1e-6)


def test_known_answers():
    q, k, v = _qkv()
    assert da.identity_attention(q, k, v) is v
    zeros = torch.zeros_like(q)
    mean_v = v.mean(dim=-2, keepdim=True).expand_as(v)
    # equal logits -> uniform attention -> every token gets the mean value
    torch.testing.assert_close(da.vanilla_attention(zeros, zeros, v), mean_v)
    torch.testing.assert_close(da.qq_attention(zeros, k, v), mean_v)
    # CSA rows are a sum of two softmaxes: constant values come out doubled
    ones = torch.ones_like(v)
    torch.testing.assert_close(da.csa_attention(q, k, ones), 2 * ones)


def test_gaussian_bias_known_values():
    bias = da.gaussian_neighbourhood_bias((2, 2), std=1.0)
    assert bias.shape == (5, 5)
    assert torch.all(bias[0] == 0) and torch.all(bias[:, 0] == 0)
    torch.testing.assert_close(torch.diagonal(bias)[1:], torch.ones(4))
    assert bias[1, 2].item() == pytest.approx(math.exp(-0.5))   # horizontal neighbour
    assert bias[1, 3].item() == pytest.approx(math.exp(-0.5))   # vertical neighbour
    assert bias[1, 4].item() == pytest.approx(math.exp(-1.0))   # diagonal neighbour
    torch.testing.assert_close(bias, bias.T)
    with pytest.raises(ValueError, match='positive'):
        da.gaussian_neighbourhood_bias((2, 2), std=0.0)


def test_neighbourhood_with_zero_keys_weights_by_exp_omega():
    # k = 0: logits are omega alone; patch 0 of a 1x2 grid sees [cls, p0, p1] with
    # weights proportional to [e^0, e^1, e^exp(-1/(2 std^2))].
    std = 1.0
    v = torch.tensor([[1.0], [2.0], [4.0]]).reshape(1, 1, 3, 1)
    zeros = torch.zeros_like(v)
    out = da.neighbourhood_attention(zeros, zeros, v, grid_hw=(1, 2), std=std)
    w = [1.0, math.e, math.exp(math.exp(-0.5))]
    expected = (w[0] * 1 + w[1] * 2 + w[2] * 4) / sum(w)
    assert out[0, 0, 1, 0].item() == pytest.approx(expected, rel=1e-6)
    assert out[0, 0, 0, 0].item() == pytest.approx(7.0 / 3.0, rel=1e-6)  # cls row: uniform
    with pytest.raises(ValueError, match='tokens'):
        da.neighbourhood_attention(zeros, zeros, v, grid_hw=(2, 2))


def test_dense_mode_table_and_errors():
    assert set(da.DENSE_MODES) == {'vanilla', 'maskclip', 'sclip', 'clearclip', 'naclip',
                                   'declip', 'declip_qq'}
    assert not da.DENSE_MODES['declip'].keep_residual_ffn
    assert da.mode_attention_fn('vanilla', (2, 2)) is None
    assert not da.DENSE_MODES['clearclip'].keep_residual_ffn
    assert da.DENSE_MODES['sclip'].keep_residual_ffn
    with pytest.raises(ValueError, match="valid modes.*clearclip"):
        da.check_dense_mode('gem')


# ------------------------------------------------------------------ block composition


class _Scale(nn.Module):
    def __init__(self, dim: int, value: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), value))

    def forward(self, x):
        return x * self.gamma


def _block(dim: int = 8, heads: int = 2, layer_scale: bool = True) -> nn.Module:
    block = nn.Module()
    block.ln_1, block.ln_2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
    block.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
    block.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
    if layer_scale:
        block.ls_1, block.ls_2 = _Scale(dim, 0.5), _Scale(dim, 2.0)
    return block.eval()


@pytest.mark.parametrize('layer_scale', [True, False])
def test_vanilla_block_forward_matches_standard_block(layer_scale):
    block, x = _block(layer_scale=layer_scale), torch.randn(2, 5, 8)
    ls_1 = block.ls_1 if layer_scale else nn.Identity()
    ls_2 = block.ls_2 if layer_scale else nn.Identity()
    y = block.ln_1(x)
    ref = x + ls_1(block.attn(y, y, y, need_weights=False)[0])
    ref = ref + ls_2(block.mlp(block.ln_2(ref)))
    got = da.modified_block_forward(block, x, da.vanilla_attention, keep_residual_ffn=True)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_maskclip_and_no_residual_block_forward():
    block, x = _block(), torch.randn(1, 5, 8)
    d = 8
    y = block.ln_1(x)
    w, b = block.attn.in_proj_weight, block.attn.in_proj_bias
    v = y @ w[2 * d:].T + b[2 * d:]
    out = block.ls_1(block.attn.out_proj(v))
    ref = x + out
    ref = ref + block.ls_2(block.mlp(block.ln_2(ref)))
    got = da.modified_block_forward(block, x, da.identity_attention, keep_residual_ffn=True)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    got = da.modified_block_forward(block, x, da.identity_attention, keep_residual_ffn=False)
    torch.testing.assert_close(got, out, rtol=1e-5, atol=1e-5)


def test_block_without_packed_projection_is_rejected():
    block = _block()
    block.attn = nn.Linear(8, 8)
    with pytest.raises(NotImplementedError, match='MultiheadAttention'):
        da.block_qkv(block, torch.randn(1, 3, 8))


# ------------------------------------------------------------------ token helpers


def test_pos_embed_interpolation():
    pos = torch.randn(1 + 4 * 4, 6)
    assert da.interpolate_pos_embed(pos, (4, 4), (4, 4)) is pos
    out = da.interpolate_pos_embed(pos, (4, 4), (3, 5))
    assert out.shape == (1 + 15, 6)
    torch.testing.assert_close(out[0], pos[0])
    const = torch.cat([torch.zeros(1, 2), torch.full((16, 2), 3.0)])
    torch.testing.assert_close(da.interpolate_pos_embed(const, (4, 4), (7, 2))[1:],
                               torch.full((14, 2), 3.0))


def test_pad_and_reshape_helpers():
    img = torch.ones(1, 3, 17, 32)
    padded = da.pad_to_multiple(img, (16, 16))
    assert padded.shape == (1, 3, 32, 32)
    assert padded[..., 17:, :].abs().sum() == 0 and da.pad_to_multiple(padded, (16, 16)) is padded
    tokens = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    fmap = da.tokens_to_map(tokens, (2, 3))
    assert fmap.shape == (2, 3, 2, 3) and fmap[1, 2, 1, 0] == tokens[1, 3, 2]
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(da.merge_heads(da.split_heads(x, 2)), x)


def test_offset_pos_embed_resize_is_dino_rule_and_differs_from_exact_size():
    import math

    import torch.nn.functional as F

    from ovperception.models.clip.dense_attn import interpolate_pos_embed
    torch.manual_seed(0)
    pos = torch.randn(1 + 14 * 14, 8)
    out = interpolate_pos_embed(pos, (14, 14), (28, 21), mode='bicubic_offset')
    grid = pos[1:].reshape(1, 14, 14, 8).permute(0, 3, 1, 2)
    # the DINO/SCLIP formula: scale_factor=((G + 0.1) / sqrt(N)), bicubic
    ref = F.interpolate(grid, scale_factor=((28 + 0.1) / math.sqrt(196), (21 + 0.1) / 14),
                        mode='bicubic', align_corners=False)
    assert torch.allclose(out[1:], ref.permute(0, 2, 3, 1).reshape(-1, 8))
    assert torch.equal(out[0], pos[0])
    exact = interpolate_pos_embed(pos, (14, 14), (28, 21))
    assert (exact - out).abs().max() > 1e-3
    assert torch.equal(interpolate_pos_embed(pos, (14, 14), (14, 14), mode='bicubic_offset'), pos)
    with pytest.raises(ValueError, match='pos_embed_resize'):
        interpolate_pos_embed(pos, (14, 14), (28, 28), mode='nearest')


def test_fit_to_patch_grid_modes():
    from ovperception.models.clip.dense_attn import fit_to_patch_grid
    images = torch.arange(2 * 3 * 21 * 35, dtype=torch.float32).reshape(2, 3, 21, 35) + 1
    padded = fit_to_patch_grid(images, (16, 16), 'pad')
    assert padded.shape[-2:] == (32, 48) and torch.equal(padded[..., :21, :35], images)
    centred = fit_to_patch_grid(images, (16, 16), 'centre_pad')  # 11 rows: 5 above, 6 below
    assert centred.shape[-2:] == (32, 48) and torch.equal(centred[..., 5:26, 6:41], images)
    assert float(centred[..., :5, :].abs().sum()) == 0.0
    dropped = fit_to_patch_grid(images, (16, 16), 'drop')
    assert torch.equal(dropped, images[..., :16, :32])
    with pytest.raises(ValueError, match='grid_remainder'):
        fit_to_patch_grid(images, (16, 16), 'crop')
    with pytest.raises(ValueError, match='no whole'):
        fit_to_patch_grid(images[..., :8, :], (16, 16), 'drop')


@pytest.mark.parametrize('mode', ['vanilla', 'sclip', 'clearclip', 'naclip', 'declip',
                                  'declip_qq'])
def test_mode_attention_weights_are_the_weights_of_the_mode(mode):
    """Plug-ins (ResCLIP) extend a mode through its weights: with no logit hook they give what
    the mode's attention function gives; the hook sees every logit term before its softmax."""
    from ovperception.models.clip.dense_attn import mode_attention_fn, mode_attention_weights
    torch.manual_seed(0)
    grid = (3, 4)
    q, k, v = (torch.randn(2, 2, 1 + 12, 8) for _ in range(3))
    weights = mode_attention_weights(mode, q, k, grid, gaussian_std=2.0)
    reference = mode_attention_fn(mode, grid, gaussian_std=2.0)
    expected = reference(q, k, v) if reference is not None else \
        torch.softmax(q @ k.transpose(-2, -1) * 8 ** -0.5, dim=-1) @ v
    torch.testing.assert_close(weights @ v, expected, atol=1e-6, rtol=0)
    calls = []
    mode_attention_weights(mode, q, k, grid, 2.0, adjust_logits=lambda t: calls.append(t) or t)
    assert len(calls) == (2 if mode in ('sclip', 'declip') else 1)


def test_mode_attention_weights_refuse_the_value_path():
    from ovperception.models.clip.dense_attn import mode_attention_weights
    q = torch.zeros(1, 1, 5, 4)
    with pytest.raises(ValueError, match='maskclip'):
        mode_attention_weights('maskclip', q, q, (2, 2))


def test_every_dense_mode_names_one_attention_variant():
    """One table: each mode's attention is an ATTENTION_VARIANTS entry, and the functions
    bound by mode_attention_fn apply exactly the weights mode_attention_weights returns."""
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 2, 1 + 6, 4) for _ in range(3))
    for mode, spec in da.DENSE_MODES.items():
        assert spec.attention is None or spec.attention in da.ATTENTION_VARIANTS
        attend = da.mode_attention_fn(mode, (2, 3), 1.5)
        if spec.attention is None or not da.ATTENTION_VARIANTS[spec.attention].pairs:
            continue
        weights = da.mode_attention_weights(mode, q, k, (2, 3), 1.5)
        assert torch.equal(attend(q, k, v), weights @ v), mode
