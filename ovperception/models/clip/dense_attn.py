"""Last-block attention variants for dense CLIP features, as small pure functions.

Every attention function maps ``q, k, v`` of shape ``(B, heads, T, head_dim)``
to the attended values ``(B, heads, T, head_dim)``; ``s = head_dim ** -0.5``.

* ``vanilla``:   ``softmax(q k^T s) v`` (the standard block).
* ``maskclip``:  ``v`` (identity attention: MaskCLIP's value path).
* ``sclip``:     ``(softmax(q q^T s) + softmax(k k^T s)) v`` (correlative self-attention).
* ``declip``:    ``(softmax(q q^T) + softmax(k k^T)) v`` without the scale, residual or FFN
  (DeCLIP's ``csa`` mode: the content features its distillation trains); ``declip_qq``:
  ``softmax(q q^T) v`` likewise (its ``qq`` mode, the one its released training script uses).
* ``clearclip``: ``softmax(q q^T s) v``.
* ``naclip``:    ``softmax(k k^T s + omega) v`` with a Gaussian neighbourhood prior ``omega``
  on the 2-D patch grid (zero for rows/columns that involve prefix tokens).

One table, :data:`ATTENTION_VARIANTS`, says which softmaxed logit maps each variant sums;
the attention functions (:func:`mode_attention_fn`) and the bare weights that plug-ins such as
ResCLIP adjust (:func:`mode_attention_weights`) are both computed from it.

:func:`modified_block_forward` applies such a function inside a ViT residual block
(``ln_1``/``attn``/``ls_1``/``ln_2``/``mlp``/``ls_2`` as in open_clip's
``ResidualAttentionBlock``) with or without the residual and FFN. Nothing here
imports open_clip. The ViT token helpers (padding, position-embedding interpolation,
token/map reshapes) and the CNN dense paths (ResNet attention-pool value path, timm trunk +
head per location) live here too, duck-typed on the open_clip modules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

AttentionFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def _scale(x: Tensor) -> float:
    return x.shape[-1] ** -0.5


def attention_logits(x: Tensor, y: Tensor, scaled: bool = True) -> Tensor:
    """``x y^T s`` (``s = 1`` when not ``scaled``) for (B, heads, T, head_dim) inputs -> (B,
    heads, T, T)."""
    logits = torch.matmul(x, y.transpose(-2, -1))
    return logits * _scale(x) if scaled else logits


def self_similarity_softmax(x: Tensor, bias: Tensor | None = None,
                            scaled: bool = True) -> Tensor:
    """Row-wise ``softmax(x x^T s + bias)`` (``s = 1`` when not ``scaled``).

    Args:
        x: (B, heads, T, head_dim) queries or keys.
        bias: optional additive logits, broadcastable to (B, heads, T, T).
        scaled: multiply the logits by ``head_dim ** -0.5``.

    Returns:
        (B, heads, T, T) attention weights; every row sums to one.
    """
    logits = attention_logits(x, x, scaled)
    if bias is not None:
        logits = logits + bias.to(logits.dtype)
    return logits.softmax(dim=-1)


def gaussian_neighbourhood_bias(grid_hw: tuple[int, int], std: float, num_prefix: int = 1,
                                device: torch.device | str | None = None,
                                dtype: torch.dtype = torch.float32) -> Tensor:
    """NACLIP's Gaussian neighbourhood prior over a patch grid.

    ``omega[i, j] = exp(-||p_i - p_j||^2 / (2 std^2))`` for patch tokens at integer grid
    positions ``p`` (row-major, in patch units); rows and columns of the ``num_prefix``
    leading (class) tokens are zero.

    Args:
        grid_hw: (h, w) patch grid.
        std: Gaussian standard deviation in patches; must be positive.
        num_prefix: number of prefix tokens before the patch tokens.
        device: device of the result.
        dtype: dtype of the result.

    Returns:
        (num_prefix + h * w, num_prefix + h * w) additive attention bias.
    """
    if std <= 0:
        raise ValueError(f'gaussian std must be positive, got {std}')
    h, w = grid_hw
    rows = torch.arange(h, device=device, dtype=dtype).repeat_interleave(w)
    cols = torch.arange(w, device=device, dtype=dtype).repeat(h)
    pos = torch.stack([rows, cols], dim=1)  # (h*w, 2)
    sq_dist = (pos[:, None, :] - pos[None, :, :]).pow(2).sum(-1)
    patch_bias = torch.exp(-sq_dist / (2.0 * std ** 2))
    return F.pad(patch_bias, (num_prefix, 0, num_prefix, 0))


@dataclass(frozen=True)
class AttentionVariant:
    """How one attention variant weighs the values: the sum over ``pairs`` of
    ``softmax(a(x y^T s) + omega)``.

    Attributes:
        pairs: the token pairs ``'qk'``, ``'qq'``, ``'kk'`` whose softmaxes are summed; empty:
            the value path (the output is ``v``, there are no weights).
        scaled: ``s = head_dim ** -0.5`` (else ``s = 1``).
        neighbourhood: add NACLIP's Gaussian prior ``omega`` (else ``omega = 0``).
    """

    pairs: tuple[str, ...]
    scaled: bool = True
    neighbourhood: bool = False


#: The one table of attention variants; :data:`DENSE_MODES` names them, the attention
#: functions and the weights of a mode (:func:`mode_attention_weights`) both read it.
ATTENTION_VARIANTS: dict[str, AttentionVariant] = {
    'vanilla': AttentionVariant(('qk',)),
    'identity': AttentionVariant(()),
    'csa': AttentionVariant(('qq', 'kk')),
    'qq': AttentionVariant(('qq',)),
    'csa_unscaled': AttentionVariant(('qq', 'kk'), scaled=False),
    'qq_unscaled': AttentionVariant(('qq',), scaled=False),
    'neighbourhood': AttentionVariant(('kk',), neighbourhood=True),
}


def variant_weights(variant: AttentionVariant, q: Tensor, k: Tensor,
                    grid_hw: tuple[int, int] | None = None, gaussian_std: float = 5.0,
                    num_prefix: int = 1,
                    adjust_logits: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """The attention weights of ``variant``, with a hook ``a`` on every logit map.

    Args:
        q, k: (B, heads, T, head_dim).
        grid_hw: (h, w) patch grid (only the neighbourhood prior needs it).
        gaussian_std, num_prefix: of the neighbourhood prior.
        adjust_logits: ``a``, applied before the prior and the softmax (identity if None).

    Returns:
        (B, heads, T, T).

    Raises:
        ValueError: the value path (no weights), or tokens that do not fit the grid.
    """
    if not variant.pairs:
        raise ValueError('the value path (identity attention) has no attention weights')
    bias = None
    if variant.neighbourhood:
        if grid_hw is None or k.shape[-2] != num_prefix + grid_hw[0] * grid_hw[1]:
            raise ValueError(f'{k.shape[-2]} tokens do not match grid {grid_hw} + '
                             f'{num_prefix} prefix')
        bias = gaussian_neighbourhood_bias(grid_hw, gaussian_std, num_prefix, device=k.device,
                                           dtype=k.dtype)
    tokens = dict(q=q, k=k)
    weights: Tensor | None = None
    for pair in variant.pairs:
        logits = attention_logits(tokens[pair[0]], tokens[pair[1]], variant.scaled)
        if adjust_logits is not None:
            logits = adjust_logits(logits)
        if bias is not None:
            logits = logits + bias.to(logits.dtype)
        term = logits.softmax(dim=-1)
        weights = term if weights is None else weights + term
    assert weights is not None
    return weights


def variant_attention(variant: AttentionVariant, q: Tensor, k: Tensor, v: Tensor,
                      grid_hw: tuple[int, int] | None = None, gaussian_std: float = 5.0,
                      num_prefix: int = 1) -> Tensor:
    """``variant``'s weights applied to ``v`` (``v`` itself for the value path).

    Args:
        q, k, v: (B, heads, T, head_dim).

    Returns:
        (B, heads, T, head_dim).
    """
    if not variant.pairs:
        return v
    return torch.matmul(variant_weights(variant, q, k, grid_hw, gaussian_std, num_prefix), v)


def vanilla_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Standard scaled dot-product attention ``softmax(q k^T s) v``; (B, heads, T, head_dim)
    inputs and output."""
    return variant_attention(ATTENTION_VARIANTS['vanilla'], q, k, v)


def identity_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """MaskCLIP's value path: every token attends only to itself, so the output is ``v``
    (q, k unused)."""
    return variant_attention(ATTENTION_VARIANTS['identity'], q, k, v)


def csa_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """SCLIP correlative self-attention ``(softmax(q q^T s) + softmax(k k^T s)) v``;
    (B, heads, T, head_dim) inputs and output."""
    return variant_attention(ATTENTION_VARIANTS['csa'], q, k, v)


def unscaled_csa_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """DeCLIP's correlative attention ``(softmax(q q^T) + softmax(k k^T)) v``, unscaled;
    (B, heads, T, head_dim) inputs and output."""
    return variant_attention(ATTENTION_VARIANTS['csa_unscaled'], q, k, v)


def unscaled_qq_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """DeCLIP's ``qq`` attention ``softmax(q q^T) v``, unscaled (k unused)."""
    return variant_attention(ATTENTION_VARIANTS['qq_unscaled'], q, k, v)


def qq_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """ClearCLIP query-query attention ``softmax(q q^T s) v`` (k unused); (B, heads, T,
    head_dim) inputs and output."""
    return variant_attention(ATTENTION_VARIANTS['qq'], q, k, v)


def neighbourhood_attention(q: Tensor, k: Tensor, v: Tensor, grid_hw: tuple[int, int],
                            std: float = 5.0, num_prefix: int = 1) -> Tensor:
    """NACLIP attention ``softmax(k k^T s + omega) v``.

    Args:
        q: unused, (B, heads, T, head_dim).
        k, v: (B, heads, T, head_dim) with ``T = num_prefix + h * w``.
        grid_hw: (h, w) patch grid of the tokens.
        std: Gaussian standard deviation in patches.
        num_prefix: number of prefix (class) tokens.

    Returns:
        (B, heads, T, head_dim).
    """
    return variant_attention(ATTENTION_VARIANTS['neighbourhood'], q, k, v, grid_hw, std,
                             num_prefix)


@dataclass(frozen=True)
class DenseModeSpec:
    """How a dense mode changes the last ViT block.

    Attributes:
        attention: name of the attention variant (an :data:`ATTENTION_VARIANTS` key), or None
            for the unchanged block.
        keep_residual_ffn: keep the residual connection and the FFN.
    """

    attention: str | None
    keep_residual_ffn: bool


DENSE_MODES: dict[str, DenseModeSpec] = {
    'vanilla': DenseModeSpec(None, True),
    'maskclip': DenseModeSpec('identity', True),
    'sclip': DenseModeSpec('csa', True),
    'clearclip': DenseModeSpec('qq', False),
    'naclip': DenseModeSpec('neighbourhood', False),
    'declip': DenseModeSpec('csa_unscaled', False),
    'declip_qq': DenseModeSpec('qq_unscaled', False),
}


def check_dense_mode(mode: str) -> DenseModeSpec:
    """Return the spec of ``mode``; ValueError listing the valid modes otherwise."""
    if mode not in DENSE_MODES:
        raise ValueError(f'unknown dense_mode {mode!r}; valid modes: {sorted(DENSE_MODES)}')
    return DENSE_MODES[mode]


def mode_attention_fn(mode: str, grid_hw: tuple[int, int], gaussian_std: float = 5.0,
                      num_prefix: int = 1) -> AttentionFn | None:
    """The attention function of a dense mode bound to a grid (None for ``vanilla``)."""
    name = check_dense_mode(mode).attention
    if name is None:
        return None
    return partial(variant_attention, ATTENTION_VARIANTS[name], grid_hw=grid_hw,
                   gaussian_std=gaussian_std, num_prefix=num_prefix)


def mode_attention_weights(mode: str, q: Tensor, k: Tensor, grid_hw: tuple[int, int],
                           gaussian_std: float = 5.0, num_prefix: int = 1,
                           adjust_logits: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """The attention weights of a dense mode, with a hook on its logits before the softmax.

    ``vanilla``: ``softmax(a(q k^T s))``; ``sclip``: ``softmax(a(q q^T s)) + softmax(a(k k^T s))``;
    ``clearclip``: ``softmax(a(q q^T s))``; ``naclip``: ``softmax(a(k k^T s) + omega)``;
    ``declip`` / ``declip_qq`` likewise without ``s``; ``a`` = ``adjust_logits`` (identity by
    default; plug-ins such as ResCLIP's semantic feedback mix their own scores in there). With
    the identity these are the weights that the mode's attention function applies to ``v``.

    Args:
        q, k: (B, heads, T, head_dim).
        grid_hw: (h, w) patch grid (``naclip``'s neighbourhood prior).

    Returns:
        (B, heads, T, T).
    """
    name = check_dense_mode(mode).attention
    variant = ATTENTION_VARIANTS['vanilla' if name is None else name]
    if not variant.pairs:
        raise ValueError(f'dense_mode {mode!r} has no attention weights to adjust (value path '
                         'only)')
    return variant_weights(variant, q, k, grid_hw, gaussian_std, num_prefix, adjust_logits)


def pad_to_multiple(images: Tensor, multiple: tuple[int, int]) -> Tensor:
    """Zero-pad (B, 3, H, W) bottom/right so that H and W are multiples of ``multiple``."""
    pad_h = -images.shape[-2] % multiple[0]
    pad_w = -images.shape[-1] % multiple[1]
    return F.pad(images, (0, pad_w, 0, pad_h)) if pad_h or pad_w else images


#: How a ViT meets an image whose sides are not multiples of the patch size
#: (``grid_remainder`` of the backbones): ``'pad'`` zero-pads bottom/right to the ceiling grid
#: (ours); ``'centre_pad'`` zero-pads evenly on both sides to the ceiling grid (ClearCLIP);
#: ``'drop'`` keeps the floor grid, the stride-p patch convolution ignoring the last
#: ``H mod p`` rows and ``W mod p`` columns (SCLIP, NACLIP), and the features are stretched
#: over the whole window when stitched.
GRID_REMAINDER_MODES = ('pad', 'centre_pad', 'drop')


def fit_to_patch_grid(images: Tensor, patch: tuple[int, int], mode: str = 'pad') -> Tensor:
    """(B, 3, H, W) -> (B, 3, H', W') with H', W' multiples of ``patch``, by ``mode``.

    Args:
        images: normalised images (padding value 0).
        patch: (patch_h, patch_w).
        mode: one of :data:`GRID_REMAINDER_MODES`.

    Returns:
        ``'pad'`` / ``'centre_pad'``: the ceiling size, zero-padded bottom/right or centred
        (the smaller half first, ``left = (pad // 2)``); ``'drop'``: the floor size (top-left
        crop).
    """
    if mode not in GRID_REMAINDER_MODES:
        raise ValueError(f'grid_remainder must be one of {GRID_REMAINDER_MODES}, got {mode!r}')
    if mode == 'pad':
        return pad_to_multiple(images, patch)
    height, width = images.shape[-2:]
    if mode == 'drop':
        if height < patch[0] or width < patch[1]:
            raise ValueError(f'an image of {height}x{width} pixels holds no whole {patch} patch '
                             "(grid_remainder='drop')")
        return images[..., :height - height % patch[0], :width - width % patch[1]]
    pad_h, pad_w = -height % patch[0], -width % patch[1]
    if not pad_h and not pad_w:
        return images
    return F.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))


#: How a position-embedding grid is resized (``pos_embed_resize`` of the backbones).
#: ``'bicubic'``: bicubic to the exact target size (``size=``); ``'bicubic_offset'``: the DINO
#: rule used by SCLIP, NACLIP, ClearCLIP, ProxyCLIP and Trident, bicubic with
#: ``scale_factor=(target + 0.1) / source``; ``'bilinear'``: bilinear to the exact size.
POS_EMBED_RESIZE_MODES = ('bicubic', 'bicubic_offset', 'bilinear')


def interpolate_pos_embed(pos: Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int],
                          num_prefix: int = 1, mode: str = 'bicubic') -> Tensor:
    """Resize a (num_prefix + h*w, D) position embedding to another grid.

    The prefix (class) rows are kept; at the source grid the input is returned unchanged.

    Args:
        pos: (num_prefix + src_h * src_w, D) embedding.
        src_grid: (src_h, src_w) of ``pos``.
        dst_grid: (dst_h, dst_w) wanted.
        num_prefix: rows before the grid (class token).
        mode: one of :data:`POS_EMBED_RESIZE_MODES`.

    Returns:
        (num_prefix + dst_h * dst_w, D).
    """
    if mode not in POS_EMBED_RESIZE_MODES:
        raise ValueError(f'pos_embed_resize must be one of {POS_EMBED_RESIZE_MODES}, got {mode!r}')
    if tuple(src_grid) == tuple(dst_grid):
        return pos
    prefix, grid = pos[:num_prefix], pos[num_prefix:]
    grid = grid.reshape(1, src_grid[0], src_grid[1], -1).permute(0, 3, 1, 2).float()
    if mode == 'bicubic_offset':
        scale = ((dst_grid[0] + 0.1) / src_grid[0], (dst_grid[1] + 0.1) / src_grid[1])
        grid = F.interpolate(grid, scale_factor=scale, mode='bicubic', align_corners=False)
        if tuple(grid.shape[-2:]) != tuple(dst_grid):
            raise RuntimeError(f'offset resize gave {tuple(grid.shape[-2:])}, not {dst_grid}')
    else:
        grid = F.interpolate(grid, size=tuple(dst_grid), mode=mode, align_corners=False)
    grid = grid.to(pos.dtype).permute(0, 2, 3, 1).reshape(-1, pos.shape[-1])
    return torch.cat([prefix, grid], dim=0)


def tokens_to_map(tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """(B, h*w, C) patch tokens -> (B, C, h, w) feature map."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, grid[0], grid[1])


def run_vit_block(transformer: nn.Module, block: nn.Module, x: Tensor) -> Tensor:
    """One open_clip ViT block on batch-first (B, T, D) tokens, whatever the tower's layout."""
    if getattr(transformer, 'batch_first', True):
        return block(x)
    return block(x.transpose(0, 1)).transpose(0, 1)


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, D) -> (B, heads, T, D // heads)."""
    b, t, d = x.shape
    return x.reshape(b, t, num_heads, d // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, heads, T, head_dim) -> (B, T, heads * head_dim)."""
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)


def _attention_module(block: nn.Module) -> nn.MultiheadAttention:
    attn = getattr(block, 'attn', None)
    if not isinstance(attn, nn.MultiheadAttention) or attn.in_proj_weight is None:
        raise NotImplementedError(
            f'{type(block).__name__}: dense attention variants need a block whose `attn` is an '
            'nn.MultiheadAttention with a packed in_proj_weight (open_clip ResidualAttentionBlock)')
    return attn


def block_qkv(block: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Queries, keys and values of a residual attention block.

    Args:
        block: block with ``ln_1`` and an ``attn`` nn.MultiheadAttention.
        x: (B, T, D) tokens entering the block (batch first).

    Returns:
        q, k, v, each (B, heads, T, head_dim), computed from ``ln_1(x)``.
    """
    attn = _attention_module(block)
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    return tuple(split_heads(t, attn.num_heads) for t in qkv.chunk(3, dim=-1))  # type: ignore


def block_output_projection(block: nn.Module, attended: Tensor) -> Tensor:
    """``ls_1(out_proj(merge_heads(attended)))``: (B, heads, T, hd) -> (B, T, D)."""
    attn = _attention_module(block)
    out = attn.out_proj(merge_heads(attended))
    ls_1 = getattr(block, 'ls_1', None)
    return ls_1(out) if ls_1 is not None else out


def block_ffn(block: nn.Module, x: Tensor) -> Tensor:
    """``x + ls_2(mlp(ln_2(x)))`` for (B, T, D) tokens."""
    out = block.mlp(block.ln_2(x))
    ls_2 = getattr(block, 'ls_2', None)
    return x + (ls_2(out) if ls_2 is not None else out)


def modified_block_forward(block: nn.Module, x: Tensor, attention_fn: AttentionFn,
                           keep_residual_ffn: bool) -> Tensor:
    """Run a residual attention block with its attention replaced.

    Args:
        block: open_clip-style ResidualAttentionBlock.
        x: (B, T, D) tokens entering the block (batch first).
        attention_fn: maps q, k, v (B, heads, T, hd) to attended values (B, heads, T', hd).
        keep_residual_ffn: if True, ``x' = x + out; x' = x' + ls_2(mlp(ln_2(x')))``;
            otherwise ``x' = out`` (ClearCLIP/NACLIP; T' may then differ from T).

    Returns:
        (B, T', D) tokens leaving the block.
    """
    q, k, v = block_qkv(block, x)
    out = block_output_projection(block, attention_fn(q, k, v))
    if not keep_residual_ffn:
        return out
    return block_ffn(block, x + out)


def attention_pool_value_path(pool: nn.Module, x: Tensor) -> Tensor:
    """MaskCLIP's ResNet value path: ``c_proj(v_proj(x))`` per location (1x1 projections).

    Args:
        pool: open_clip ``AttentionPool2d`` (``v_proj``, ``c_proj`` linears).
        x: (B, C_in, h, w) last-stage features.

    Returns:
        (B, C_out, h, w).
    """
    return pool.c_proj(pool.v_proj(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)


def attention_pool_any_grid(pool: nn.Module, x: Tensor) -> Tensor:
    """open_clip's ``AttentionPool2d`` at any grid (position embedding resized bicubically).

    Args:
        pool: ``AttentionPool2d`` (q/k/v/c projections, square ``positional_embedding``).
        x: (B, C, h, w) features.

    Returns:
        (B, C_out) pooled embedding of the mean token.
    """
    side = math.isqrt(pool.positional_embedding.shape[0] - 1)
    pos = interpolate_pos_embed(pool.positional_embedding, (side, side), tuple(x.shape[-2:]))
    tokens = x.flatten(2).permute(2, 0, 1)  # (HW, B, C)
    tokens = torch.cat([tokens.mean(dim=0, keepdim=True), tokens]) + pos[:, None].to(x.dtype)
    out, _ = F.multi_head_attention_forward(
        query=tokens[:1], key=tokens, value=tokens, embed_dim_to_check=tokens.shape[-1],
        num_heads=pool.num_heads, q_proj_weight=pool.q_proj.weight,
        k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight, in_proj_weight=None,
        in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
        out_proj_weight=pool.c_proj.weight, out_proj_bias=pool.c_proj.bias,
        use_separate_proj_weight=True, training=False, need_weights=False)
    return out[0]


def timm_dense_features(visual: nn.Module, images: Tensor) -> Tensor:
    """timm CNN trunk -> head norm (+ pre-logits) -> open_clip projection head per location.

    Args:
        visual: open_clip ``TimmModel`` (``trunk``, ``head``) with a CNN trunk.
        images: (B, 3, H, W) normalised images.

    Returns:
        (B, C, H/stride, W/stride).
    """
    return timm_project_map(visual, visual.trunk.forward_features(images))


def timm_project_map(visual: nn.Module, x: Tensor) -> Tensor:
    """Last-stage trunk features -> head norm (+ pre-logits) -> projection, per location.

    Args:
        visual: open_clip ``TimmModel`` with a CNN trunk.
        x: (B, C_trunk, h, w) last-stage features (or mask-pooled (M, C_trunk, 1, 1)).

    Returns:
        (B, C, h, w) in the joint embedding space (not normalised).
    """
    if 'pool' in dict(visual.head.named_children()):
        raise NotImplementedError('attention-pool timm heads have no dense path')
    trunk_head = getattr(visual.trunk, 'head', None)
    norm = getattr(trunk_head, 'norm', None)
    if norm is not None:
        x = norm(x)
    x = x.permute(0, 2, 3, 1)
    pre_logits = getattr(trunk_head, 'pre_logits', None)
    if pre_logits is not None:
        x = pre_logits(x)
    return visual.head(x).permute(0, 3, 1, 2)
