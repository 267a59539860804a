"""MAFT+ Content-Dependent Transfer: text embeddings adapted to each image's content.

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
        """(N, C) text embeddings + (B, C, h, w) dense CLIP features -> (B, N, C) normalised."""
        image = image_features.flatten(2).transpose(1, 2)
        base = text[None].expand(image.shape[0], -1, -1)
        adapted = base
        for layer in self.layers:
            adapted = layer(adapted, image)
        return F.normalize(base + self.gamma * (adapted - base), dim=-1)
