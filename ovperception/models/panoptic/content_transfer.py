"""MAFT+ Content-Dependent Transfer: text embeddings adapted to each image's content.

Two variants:

* :class:`MAFTContentTransfer` - as released (jiaosiyu1999/MAFT-Plus): one cross-attention
  from the text embeddings to the projected dense CLIP features (keys carry sine positions),
  ``norm(t + mlp(attn))`` (``tn + norm(mlp(attn))`` in its panoptic model); its output is not
  re-normalised and, in MAFT+, feeds only the out-of-vocabulary classifier.
* :class:`ContentDependentTransfer` - our gated multi-layer variant, described below.

Every class's text embedding t (C) cross-attends to the image's dense CLIP features F
(h*w, C) in a few transformer-decoder layers (cross-attention, then FFN, residual, pre-norm):

    t_0 = t,   t_{l+1} = t_l + Attn(LN(t_l), LN(F)),   t_{l+1} += FFN(LN(t_{l+1}))
    t'  = normalize(t + gamma * (t_L - t))

``gamma`` is a learned scale initialised at 0, so the module starts as the identity
(the frozen CLIP text embeddings) and learns how much image content to mix in.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.panoptic.positional import sine_position_encoding
from ovperception.registry import MODELS


class _CrossAttentionLayer(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ffn = nn.LayerNorm(dim), nn.LayerNorm(dim), \
            nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, text: Tensor, image: Tensor) -> Tensor:
        memory = self.norm_kv(image)
        text = text + self.attn(self.norm_q(text), memory, memory, need_weights=False)[0]
        return text + self.ffn(self.norm_ffn(text))


@MODELS.register_module()
class ContentDependentTransfer(nn.Module):
    """Per-image text embeddings from image-conditioned cross-attention.

    Args:
        embed_dim: the joint-space dimension C.
        num_heads: attention heads (must divide ``embed_dim``).
        num_layers: cross-attention layers.
    """

    def __init__(self, embed_dim: int, num_heads: int = 8, num_layers: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_CrossAttentionLayer(embed_dim, num_heads)
                                     for _ in range(num_layers)])
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, text: Tensor, image_features: Tensor) -> Tensor:
        """(N, C) text embeddings + (B, C, h, w) dense CLIP features (joint space, normalised
        here) -> (B, N, C) normalised."""
        image = F.normalize(image_features, dim=1).flatten(2).transpose(1, 2)
        base = text[None].expand(image.shape[0], -1, -1)
        adapted = base
        for layer in self.layers:
            adapted = layer(adapted, image)
        return F.normalize(base + self.gamma * (adapted - base), dim=-1)


@MODELS.register_module()
class MAFTContentTransfer(nn.Module):
    """MAFT+'s released content-dependent transfer (parameter names follow its ``cdt``).

    Args:
        embed_dim: the joint-space dimension C (MAFT+: 768).
        num_heads: attention heads (MAFT+: 8).
        panoptic: the released panoptic model's residual form ``t + norm(mlp(attn))``
            (its semantic models: ``norm(t + mlp(attn))``); must match the checkpoint.
    """

    def __init__(self, embed_dim: int, num_heads: int = 8, panoptic: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(embed_dim)
        self.mlp = nn.Linear(embed_dim, embed_dim)
        self.panoptic = panoptic
        if panoptic:
            nn.init.zeros_(self.mlp.weight)
            nn.init.zeros_(self.mlp.bias)

    def forward(self, text: Tensor, image_features: Tensor) -> Tensor:
        """(N, C) text embeddings + (B, C, h, w) projected dense CLIP features (not
        normalised) -> (B, N, C) adapted text embeddings (not normalised, as released)."""
        batch, channels, height, width = image_features.shape
        pos = sine_position_encoding(height, width, channels, image_features.device)
        values = image_features.flatten(2).transpose(1, 2)
        keys = values + pos.flatten(1).t()[None].to(values.dtype)
        queries = text[None].expand(batch, -1, -1).to(values.dtype)
        attended = self.attn(queries, keys, values, need_weights=False)[0]
        if self.panoptic:
            return queries + self.norm(self.mlp(attended))
        return self.norm(queries + self.mlp(attended))
