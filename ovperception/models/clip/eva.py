"""Dense and global features of EVA-02-CLIP towers (open_clip ``EVA02-*``: a timm ``Eva`` trunk).

EVA-02 blocks differ from open_clip's ``ResidualAttentionBlock``: separate q/k/v projections
(q and v biased), rotary position embeddings (RoPE) on the patch tokens' queries and keys,
a LayerNorm inside the attention (``attn.norm``) and a SwiGLU FFN. The functions here run
such a trunk token by token, so that position embeddings and RoPE follow any input grid and
the last block can be replaced by a dense mode (:mod:`.dense_attn`), as DeCLIP's and
CLIPSelf's official ``encode_dense`` do:

* ``vanilla``: the unchanged last block (RoPE applied);
* ``maskclip``: values only, with residual and FFN (CLIPSelf's dense features);
* ``declip``: ``(softmax(q q^T) + softmax(k k^T)) v`` without residual and FFN (DeCLIP's
  ``csa``); like DeCLIP's replaced attention, the modified last block's q and k carry no RoPE.

Nothing here imports open_clip; the modules are duck-typed (timm ``Eva`` attributes).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (DENSE_MODES, interpolate_pos_embed,
                                                 merge_heads, mode_attention_fn, split_heads,
                                                 tokens_to_map)

EVA_PREFIX_TOKENS = 1


def is_eva_trunk(trunk: nn.Module) -> bool:
    """True for a timm ``Eva`` trunk with one class token and absolute position embeddings."""
    return (type(trunk).__name__ == 'Eva' and getattr(trunk, 'cls_token', None) is not None
            and getattr(trunk, 'pos_embed', None) is not None
            and getattr(trunk, 'reg_token', None) is None
            and not getattr(trunk, 'no_embed_class', False))


def _apply_rope(x: Tensor, rope: Tensor | None, attn: nn.Module) -> Tensor:
    """RoPE on the patch tokens of (B, heads, T, hd) queries or keys (prefix untouched)."""
    if rope is None:
        return x
    from timm.layers import apply_rot_embed_cat
    half = getattr(attn, 'rotate_half', False)
    return torch.cat([x[:, :, :EVA_PREFIX_TOKENS],
                      apply_rot_embed_cat(x[:, :, EVA_PREFIX_TOKENS:], rope, half=half)], dim=2)


def eva_tokens(trunk: nn.Module, images: Tensor, pos_embed_resize: str = 'bicubic'
               ) -> tuple[Tensor, tuple[int, int], Tensor | None]:
    """Class + patch tokens entering the first block, at any grid.

    The absolute position embedding is resized like the official ``rescale_positional_
    embedding`` (bicubic, ``align_corners=False``, class row kept) and RoPE is built for the
    grid (the reference grid of the trunk scaled to it, as EVA-CLIP's ``recalculate``).

    Args:
        trunk: timm ``Eva``.
        images: (B, 3, H, W) normalised images, sides multiples of the patch size.
        pos_embed_resize: one of ``POS_EMBED_RESIZE_MODES``.

    Returns:
        ``(tokens (B, 1 + h*w, D), (h, w), rope (h*w, 2 * head_dim) or None)``.
    """
    x = trunk.patch_embed.proj(images.to(trunk.patch_embed.proj.weight.dtype))
    grid = (int(x.shape[-2]), int(x.shape[-1]))
    x = trunk.patch_embed.norm(x.flatten(2).transpose(1, 2))
    cls = trunk.cls_token.expand(x.shape[0], -1, -1)
    pos = interpolate_pos_embed(trunk.pos_embed[0], tuple(trunk.patch_embed.grid_size), grid,
                                num_prefix=EVA_PREFIX_TOKENS, mode=pos_embed_resize)
    x = trunk.norm_pre(torch.cat([cls, x], dim=1) + pos.to(x.dtype))
    return x, grid, rope_for_grid(trunk.rope, grid)


def rope_for_grid(rope: nn.Module | None, grid: tuple[int, int]) -> Tensor | None:
    """timm ``RotaryEmbeddingCat`` table (h*w, 2 * dim) for ``grid``, without changing the
    module's cached table (which serves the native grid)."""
    if rope is None:
        return None
    if rope.feat_shape is None or list(rope.feat_shape) == list(grid):
        return rope.get_embed(shape=list(grid))
    return rope._build_embed_cat(list(grid), rope.bands)  # the cached mode ignores `shape`


def eva_block_qkv(block: nn.Module, x: Tensor, rope: Tensor | None = None
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v (B, heads, T, hd) of an Eva block from ``norm1(x)``; RoPE on q, k if given."""
    attn = block.attn
    h = block.norm1(x)
    if attn.qkv is not None:
        bias = (torch.cat((attn.q_bias, attn.k_bias, attn.v_bias))
                if attn.q_bias is not None else None)
        q, k, v = torch.nn.functional.linear(h, attn.qkv.weight, bias).chunk(3, dim=-1)
    else:
        q, k, v = attn.q_proj(h), attn.k_proj(h), attn.v_proj(h)
    q, k, v = (split_heads(t, attn.num_heads) for t in (q, k, v))
    q, k = attn.q_norm(q), attn.k_norm(k)
    return _apply_rope(q, rope, attn), _apply_rope(k, rope, attn), v


def eva_attention_output(block: nn.Module, attended: Tensor) -> Tensor:
    """``gamma_1 * proj(norm(merge_heads(attended)))``: (B, heads, T, hd) -> (B, T, D)."""
    out = block.attn.proj(block.attn.norm(merge_heads(attended)))
    return out if block.gamma_1 is None else block.gamma_1 * out


def eva_block_ffn(block: nn.Module, x: Tensor) -> Tensor:
    """``x + gamma_2 * mlp(norm2(x))``."""
    out = block.mlp(block.norm2(x))
    return x + (out if block.gamma_2 is None else block.gamma_2 * out)


def eva_last_block(block: nn.Module, x: Tensor, rope: Tensor | None, dense_mode: str,
                   grid: tuple[int, int], gaussian_std: float = 5.0) -> Tensor:
    """The ``dense_mode`` variant of an Eva block on (B, 1 + h*w, D) tokens."""
    attention_fn = mode_attention_fn(dense_mode, grid, gaussian_std, EVA_PREFIX_TOKENS)
    if attention_fn is None:
        return block(x, rope=rope)
    q, k, v = eva_block_qkv(block, x, rope=None)
    out = eva_attention_output(block, attention_fn(q, k, v))
    return eva_block_ffn(block, x + out) if DENSE_MODES[dense_mode].keep_residual_ffn else out


def eva_project_tokens(visual: nn.Module, tokens: Tensor) -> Tensor:
    """(B, N, D) trunk tokens -> final norm -> head (the CLIP projection) -> (B, N, C)."""
    trunk = visual.trunk
    x = trunk.head(trunk.head_drop(trunk.fc_norm(trunk.norm(tokens))))
    return visual.head(x)


def eva_dense_features(visual: nn.Module, images: Tensor, dense_mode: str = 'vanilla',
                       pos_embed_resize: str = 'bicubic', gaussian_std: float = 5.0) -> Tensor:
    """Per-patch features of an EVA-02-CLIP tower in the joint space.

    Args:
        visual: open_clip ``TimmModel`` whose trunk is a timm ``Eva``.
        images: (B, 3, H, W) normalised images, sides multiples of the patch size.
        dense_mode: last-block variant (a ``DENSE_MODES`` name).
        pos_embed_resize: position-embedding resize mode.
        gaussian_std: NACLIP's neighbourhood std (``naclip`` only).

    Returns:
        (B, C, H/p, W/p), not normalised.
    """
    trunk = visual.trunk
    x, grid, rope = eva_tokens(trunk, images, pos_embed_resize)
    for block in trunk.blocks[:-1]:
        x = block(x, rope=rope)
    x = eva_last_block(trunk.blocks[-1], x, rope, dense_mode, grid, gaussian_std)
    return tokens_to_map(eva_project_tokens(visual, x[:, EVA_PREFIX_TOKENS:]), grid)


def eva_image_embedding(visual: nn.Module, images: Tensor,
                        pos_embed_resize: str = 'bicubic') -> Tensor:
    """(B, 3, H, W) -> (B, C) global (class-token) embedding at any grid, not normalised."""
    trunk = visual.trunk
    x, _, rope = eva_tokens(trunk, images, pos_embed_resize)
    for block in trunk.blocks:
        x = block(x, rope=rope)
    return visual.head(trunk.forward_head(trunk.norm(x)))


def eva_decoupled_features(visual: nn.Module, images: Tensor, dense_mode: str,
                           pos_embed_resize: str = 'bicubic'
                           ) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
    """DeCLIP's decoupled last block on an EVA tower: content map and context q, k.

    Returns:
        ``(content (B, C, h, w), q (B, h*w, D), k (B, h*w, D), (h, w))``: content features of
        ``dense_mode`` (a no-residual mode such as ``declip``) and the last block's patch
        queries / keys (heads concatenated, no RoPE), all with gradients.
    """
    trunk = visual.trunk
    x, grid, rope = eva_tokens(trunk, images, pos_embed_resize)
    for block in trunk.blocks[:-1]:
        x = block(x, rope=rope)
    last = trunk.blocks[-1]
    q, k, v = eva_block_qkv(last, x, rope=None)
    attended = mode_attention_fn(dense_mode, grid, num_prefix=EVA_PREFIX_TOKENS)(q, k, v)
    content = eva_project_tokens(visual, eva_attention_output(last, attended)[:, 1:])
    return (tokens_to_map(content, grid), merge_heads(q)[:, 1:], merge_heads(k)[:, 1:], grid)


def eva_block_maps_and_dense(visual: nn.Module, images: Tensor, indices: Sequence[int],
                             dense_mode: str = 'maskclip', pos_embed_resize: str = 'bicubic'
                             ) -> tuple[list[Tensor], Tensor]:
    """One EVA pass for detectors on frozen ViTs (F-ViT): patch tokens after chosen blocks and
    the dense joint-space map.

    Blocks before the last run unchanged; the last block is its ``dense_mode`` variant and
    its output is what index ``depth - 1`` returns (as F-ViT's released backbone, whose last
    pyramid level is the value-path ``forward_without_attn`` output).

    Args:
        visual: open_clip ``TimmModel`` with a timm ``Eva`` trunk.
        images: (B, 3, H, W) normalised images, sides multiples of the patch size.
        indices: block indices (negative: from the end), returned in this order.
        dense_mode: last-block variant (``'maskclip'`` for F-ViT).
        pos_embed_resize: position-embedding resize mode.

    Returns:
        ``([(B, width, h, w)] per index, dense (B, C, h, w) not normalised)``.
    """
    trunk = visual.trunk
    depth = len(trunk.blocks)
    wanted = [i % depth for i in indices]
    x, grid, rope = eva_tokens(trunk, images, pos_embed_resize)
    maps: dict[int, Tensor] = {}
    for i, block in enumerate(trunk.blocks[:-1]):
        x = block(x, rope=rope)
        if i in wanted:
            maps[i] = tokens_to_map(x[:, EVA_PREFIX_TOKENS:], grid)
    x = eva_last_block(trunk.blocks[-1], x, rope, dense_mode, grid)
    maps[depth - 1] = tokens_to_map(x[:, EVA_PREFIX_TOKENS:], grid)
    dense = tokens_to_map(eva_project_tokens(visual, x[:, EVA_PREFIX_TOKENS:]), grid)
    return [maps[i] for i in wanted], dense
