"""Text-tower forward with injected token embeddings (learnable and deep prompts).

Works on the attributes of an open_clip ``CLIP`` model object (``token_embedding``,
``positional_embedding``, ``transformer.resblocks``, ``ln_final``,
``text_projection``, ``attn_mask``, ``text_pool_type``) without importing
open_clip. With no learnable change (context equal to the placeholder tokens'
own embeddings, no deep prompts) it reproduces ``model.encode_text`` exactly
(tested).

Prompt layout (AnomalyCLIP / MaPLe-style): ``[SOT] [V1] .. [Vn] object . [EOT]``:
the embeddings of the ``n`` placeholder tokens right after SOT are replaced by
learnable context vectors; *deep* prompts replace the embeddings at the same
positions 1..t after each of the first blocks (``deep_prompts[i]`` is used as the
input of block ``i + 1``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _run_block(block: nn.Module, x: Tensor, attn_mask: Tensor | None,
               batch_first: bool) -> Tensor:
    if batch_first:
        return block(x, attn_mask=attn_mask)
    return block(x.transpose(0, 1), attn_mask=attn_mask).transpose(0, 1)


def _pool_eot(model: nn.Module, x: Tensor, tokens: Tensor) -> Tensor:
    """Pool (K, L, width) to (K, width) at the EOT token (open_clip's ``text_global_pool``)."""
    pool = getattr(model, 'text_pool_type', 'argmax')
    if pool == 'first':
        return x[:, 0]
    if pool == 'last':
        return x[:, -1]
    if pool == 'eos':
        index = (tokens == model.text_eos_id).int().argmax(dim=-1)
    elif pool == 'argmax':
        index = tokens.argmax(dim=-1)
    else:
        raise NotImplementedError(f'text pool type {pool!r} is not supported')
    return x[torch.arange(x.shape[0], device=x.device), index]


def check_text_tower(model: nn.Module) -> None:
    """Raise a clear error when ``model`` lacks the attributes of an open_clip CLIP text tower."""
    needed = ('token_embedding', 'positional_embedding', 'transformer', 'ln_final',
              'text_projection', 'attn_mask')
    missing = [name for name in needed if not hasattr(model, name)]
    if missing:
        raise NotImplementedError(
            f'{type(model).__name__} has no built-in text transformer ({missing} missing); '
            'learnable text prompts need an open_clip CLIP model with its own text tower')


def encode_text_with_prompts(model: nn.Module, tokens: Tensor, context: Tensor | None = None,
                             deep_prompts: Sequence[Tensor] = (), normalize: bool = True
                             ) -> Tensor:
    """Text embeddings with learnable token embeddings injected.

    Args:
        model: an open_clip ``CLIP`` model (built-in text tower).
        tokens: (K, L) token ids of the prompts (placeholders at positions 1..n).
        context: (K, n, width) or (n, width) embeddings replacing positions 1..n; None keeps
            the token embeddings.
        deep_prompts: each (t, width): replaces positions 1..t of the input of block i + 1.
        normalize: L2-normalise the output.

    Returns:
        (K, C) text embeddings (C = ``text_projection`` output size).
    """
    check_text_tower(model)
    cast_dtype = model.token_embedding.weight.dtype
    x = model.token_embedding(tokens).to(cast_dtype)
    if context is not None:
        ctx = context.to(cast_dtype)
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(x.shape[0], -1, -1)
        n = ctx.shape[1]
        x = torch.cat([x[:, :1], ctx, x[:, 1 + n:]], dim=1)
    x = x + model.positional_embedding.to(cast_dtype)
    blocks = model.transformer.resblocks
    if len(deep_prompts) >= len(blocks):
        raise ValueError(f'{len(deep_prompts)} deep prompts for {len(blocks)} text blocks '
                         '(at most one fewer than the number of blocks)')
    batch_first = getattr(model.transformer, 'batch_first', True)
    attn_mask = model.attn_mask
    for index, block in enumerate(blocks):
        if 0 < index <= len(deep_prompts):
            deep = deep_prompts[index - 1].to(x.dtype)
            deep = deep.unsqueeze(0).expand(x.shape[0], -1, -1)
            x = torch.cat([x[:, :1], deep, x[:, 1 + deep.shape[1]:]], dim=1)
        x = _run_block(block, x, attn_mask, batch_first)
    x = _pool_eot(model, model.ln_final(x), tokens)
    projection = model.text_projection
    if projection is not None:
        x = projection(x) if isinstance(projection, nn.Linear) else x @ projection
    return F.normalize(x, dim=-1) if normalize else x


def placeholder_embeddings(model: nn.Module, tokens: Tensor, num: int) -> Tensor:
    """(K, num, width) token embeddings at positions 1..num (the parity starting point)."""
    with torch.no_grad():
        return model.token_embedding(tokens[:, 1:1 + num]).clone()
