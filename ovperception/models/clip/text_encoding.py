"""Text-tower encoding trimmed to the tokens that can matter (pure torch; no open_clip import).

open_clip's CLIP text tower is causal (each token attends to itself and earlier tokens) and its
embedding is read at the end-of-text token. Tokens after the last end-of-text token of a batch
therefore cannot change any prompt's embedding: running the tower on the first ``L`` positions
only (``L`` = the longest prompt of the batch, end-of-text included), with the position
embedding and the causal mask cut to ``L``, gives the same embeddings as the full 77-token
context. Sorting prompts by length before batching keeps ``L`` close to each prompt's own
length (most templated class prompts are 8-20 tokens).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def trimmable_text_tower(model: nn.Module) -> bool:
    """Whether ``model`` is an open_clip ``CLIP`` whose text tower is causal and pools at a
    token (``argmax`` / ``eos``), the case where trimming is exact."""
    return (isinstance(getattr(model, 'attn_mask', None), Tensor)
            and getattr(model, 'text_pool_type', None) in ('argmax', 'eos')
            and hasattr(model, 'token_embedding') and hasattr(model, 'positional_embedding'))


def pooled_positions(model: nn.Module, tokens: Tensor) -> Tensor:
    """(K,) index of the token each prompt's embedding is read at (its end-of-text token)."""
    if model.text_pool_type == 'eos':
        return (tokens == model.text_eos_id).int().argmax(dim=-1)
    return tokens.argmax(dim=-1)  # end-of-text has the highest id of the CLIP vocabulary


def encode_tokens_trimmed(model: nn.Module, tokens: Tensor, normalize: bool = True) -> Tensor:
    """Embeddings of (K, context) token ids, running the text tower on the first ``L`` tokens
    only (``L`` = 1 + the last end-of-text position of the batch); equal to
    ``model.encode_text(tokens)`` for a :func:`trimmable_text_tower`.

    Returns:
        (K, C) embeddings (L2-normalised when ``normalize``).
    """
    positions = pooled_positions(model, tokens)
    length = int(positions.max()) + 1
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens[:, :length]).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), positions]
    if model.text_projection is not None:
        x = (model.text_projection(x) if isinstance(model.text_projection, nn.Linear)
             else x @ model.text_projection)
    return F.normalize(x, dim=-1) if normalize else x


def length_sorted_batches(lengths: Tensor, batch_size: int) -> list[Tensor]:
    """Indices of the prompts grouped into batches of similar length (shortest first)."""
    order = torch.argsort(lengths, stable=True)
    return list(order.split(batch_size))
