"""AnomalyCLIP's DPAM: a value-value attention path beside the original ViT path.

In the last ``dpam_blocks`` blocks of the vision transformer the official model runs two
token streams (``AnomalyCLIP_lib/AnomalyCLIP.py``, ``DAPM_replace`` + ``AnomalyCLIP_forward``
with ``ffn=False``):

* the **original path** ``x`` runs every block unchanged (q-k attention, residual, FFN);
* the **v-v path** starts as the original tokens entering the first DPAM block and, in each
  DPAM block, adds ``out_proj(softmax(v v^T s) v)`` where ``v`` are the values of that
  block computed from ``ln_1`` of the *original* path's tokens (no FFN on this path).

Patch tokens after a DPAM block are read from the v-v path (from the original path before
the first DPAM block); the image embedding is the original path's class token after the last
block, projected **without** ``ln_post`` (as released). Everything works on batch-first
(B, T, D) tokens of an open_clip ``VisionTransformer``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (block_ffn, block_output_projection, block_qkv,
                                                 run_vit_block, self_similarity_softmax,
                                                 tokens_to_map, vanilla_attention)


def value_value_attention(v: Tensor) -> Tensor:
    """``softmax(v v^T s) v`` per head: (B, heads, T, head_dim) -> same shape."""
    return torch.matmul(self_similarity_softmax(v), v)


def dpam_block(block: nn.Module, x: Tensor, vv: Tensor | None) -> tuple[Tensor, Tensor]:
    """One DPAM block.

    Args:
        block: open_clip ``ResidualAttentionBlock``.
        x: (B, T, D) original-path tokens entering the block.
        vv: (B, T, D) v-v path tokens, or None in the first DPAM block (it starts from ``x``).

    Returns:
        ``(x', vv')``: the block's original output and the v-v path after this block.
    """
    q, k, v = block_qkv(block, x)
    original = block_output_projection(block, vanilla_attention(q, k, v))
    value_path = block_output_projection(block, value_value_attention(v))
    vv = (x if vv is None else vv) + value_path
    return block_ffn(block, x + original), vv


def dpam_features(backbone: nn.Module, images: Tensor, feature_layers: Sequence[int],
                  dpam_blocks: int, global_ln_post: bool = False
                  ) -> tuple[Tensor, list[Tensor]]:
    """Image embedding and projected patch maps with DPAM in the last ``dpam_blocks`` blocks.

    Args:
        backbone: an ``OpenCLIPBackbone`` with a ViT tower.
        images: (B, 3, H, W) normalised images.
        feature_layers: 0-based blocks whose patch tokens are returned (official
            ``features_list`` minus one).
        dpam_blocks: number of last blocks with the v-v path (official ``DPAM_layer - 1``:
            19 of 24 for ViT-L/14@336); 0 disables DPAM.
        global_ln_post: apply ``ln_post`` to the class token before the projection (the
            released code does not).

    Returns:
        ``(global (B, C) L2-normalised, [(B, C, h, w)] per feature layer)``; patch maps pass
        ``ln_post`` and the projection, not normalised.
    """
    visual = backbone.visual
    blocks = visual.transformer.resblocks
    if not 0 <= dpam_blocks <= len(blocks):
        raise ValueError(f'dpam_blocks must be in [0, {len(blocks)}] for a {len(blocks)}-block '
                         f'ViT, got {dpam_blocks}')
    wanted = [int(i) % len(blocks) for i in feature_layers]
    first_dpam = len(blocks) - dpam_blocks
    x, grid = backbone.vit_tokens(images)
    vv: Tensor | None = None
    tokens: dict[int, Tensor] = {}
    for index, block in enumerate(blocks):
        if index < first_dpam:
            x = run_vit_block(visual.transformer, block, x)
        else:
            x, vv = dpam_block(block, x, vv)
        if index in wanted:
            tokens[index] = x if vv is None else vv
    cls = visual.ln_post(x[:, 0]) if global_ln_post else x[:, 0]
    global_embedding = cls @ visual.proj if visual.proj is not None else cls
    maps = [backbone.project_patch_tokens(tokens_to_map(tokens[i][:, 1:], grid))
            for i in wanted]
    return torch.nn.functional.normalize(global_embedding, dim=-1), maps
