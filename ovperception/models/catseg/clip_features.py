"""CAT-Seg's view of an (open_clip) OpenAI CLIP ViT: separate q / k / v projections (so
that only the query and value projections fine-tune), dense image embeddings from the
released last-block variant, and intermediate tokens as guidance."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import run_vit_block, tokens_to_map

#: Parameter-name endings that CAT-Seg fine-tunes (``CLIP_FINETUNE: attention``): the
#: query and value projections of every attention block of both towers.
FINETUNED_SUFFIXES = ('attn.q_proj_weight', 'attn.v_proj_weight')


def split_qkv(attention: nn.MultiheadAttention) -> None:
    """Give ``attention`` separate ``q/k/v_proj_weight`` parameters (the packed
    ``in_proj_weight`` removed; ``in_proj_bias`` kept), the layout the released CAT-Seg
    model trains and saves. ``nn.MultiheadAttention`` computes the same function."""
    if attention.in_proj_weight is None:
        return
    q, k, v = attention.in_proj_weight.detach().chunk(3, dim=0)
    attention._qkv_same_embed_dim = False
    attention.q_proj_weight = nn.Parameter(q.clone())
    attention.k_proj_weight = nn.Parameter(k.clone())
    attention.v_proj_weight = nn.Parameter(v.clone())
    attention.register_parameter('in_proj_weight', None)


def attention_modules(clip_model: nn.Module) -> Iterator[nn.MultiheadAttention]:
    """Every ``nn.MultiheadAttention`` of the image and text transformers."""
    for module in clip_model.modules():
        if isinstance(module, nn.MultiheadAttention):
            yield module


def set_finetuned_parameters(clip_model: nn.Module, mode: str) -> list[str]:
    """Set ``requires_grad`` as the released ``CLIP_FINETUNE`` option does.

    ``'attention'``: the q / v projections of the transformer blocks (position embeddings
    frozen: their names hold no ``transformer``); ``'full'``: every transformer parameter;
    ``'none'``: nothing. Returns the names that train.
    """
    if mode not in ('attention', 'full', 'none'):
        raise ValueError(f"clip_finetune must be 'attention', 'full' or 'none', got {mode!r}")
    trained = []
    for name, param in clip_model.named_parameters():
        train = 'transformer' in name and (
            mode == 'full' or (mode == 'attention' and name.endswith(FINETUNED_SUFFIXES)))
        param.requires_grad_(train)
        if train:
            trained.append(name)
    return trained


def dense_last_block(block: nn.Module, x: Tensor) -> Tensor:
    """The released dense variant of the last block on (B, 1 + N, D) tokens.

    q, k and v of ``ln_1(x)`` each pass through the output projection; the result is
    ``v' = out_proj(v) + x_cls`` (the class token's input added to every token) and
    ``v' + MLP(ln_2(v'))``. Returns (B, 1 + N, D).
    """
    attn = block.attn
    weight = (attn.in_proj_weight if attn.in_proj_weight is not None else
              torch.cat([attn.q_proj_weight, attn.k_proj_weight, attn.v_proj_weight]))
    qkv = F.linear(block.ln_1(x), weight, attn.in_proj_bias)
    value = F.linear(qkv.chunk(3, dim=-1)[2], attn.out_proj.weight, attn.out_proj.bias)
    value = value + x[:, :1]
    return value + block.mlp(block.ln_2(value))


def catseg_image_features(backbone: nn.Module, images: Tensor, guidance_layers: Sequence[int]
                          ) -> tuple[Tensor, list[Tensor]]:
    """Dense embeddings and intermediate tokens of an open_clip ViT, as CAT-Seg reads them.

    Args:
        backbone: ``OpenCLIPBackbone`` of a ViT (position embeddings resized bicubically).
        images: (B, 3, H, W) normalised images (H, W multiples of the patch size).
        guidance_layers: 0-based blocks whose outputs are returned.

    Returns:
        (B, C, h, w) embeddings (every token through ``ln_post`` and ``proj``) and, per
        guidance layer, its (B, width, h, w) output tokens (class token dropped).
    """
    x, grid = backbone.vit_tokens(images)
    blocks = backbone.visual.transformer.resblocks
    taken = []
    for index, block in enumerate(blocks[:-1]):
        x = run_vit_block(backbone.visual.transformer, block, x)
        if index in guidance_layers:
            taken.append(x)
    x = dense_last_block(blocks[-1], x)
    dense = backbone.visual.ln_post(x[:, 1:])
    if backbone.visual.proj is not None:
        dense = dense @ backbone.visual.proj
    return tokens_to_map(dense, grid), [tokens_to_map(t[:, 1:], grid) for t in taken]
