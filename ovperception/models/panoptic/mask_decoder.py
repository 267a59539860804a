"""Mask-transformer decoder with masked attention (Mask2Former / FC-CLIP).

Learned queries attend, level by level (coarse to fine, round robin), to the pixel
decoder's feature maps; each query's cross-attention is restricted to the foreground
(sigmoid > 0.5) of the mask it predicted after the previous layer. After every layer a
shared head predicts, per query, mask logits (dot product with the stride-4 mask features)
and a class embedding (compared with text embeddings by the segmentor). As released by
FC-CLIP, the class embedding reads the query together with the mask features pooled under
its own mask: ``class_embed(mask_pooling_proj(maskpool(mask_features)) + query)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.panoptic.mask_inference import mask_pool
from ovperception.models.panoptic.positional import sine_position_encoding
from ovperception.registry import MODELS

#: per decoder output: (class embeddings (B, Q, E), mask logits (B, Q, H/4, W/4))
QueryPrediction = tuple[Tensor, Tensor]


class MLP(nn.Module):
    """``num_layers`` linears (``layers.0`` ...) with ReLU between them."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList([nn.Linear(dims[index], dims[index + 1])
                                     for index in range(num_layers)])

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_dim) -> (..., out_dim)."""
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = F.relu(x)
        return x


class MaskedDecoderLayer(nn.Module):
    """Masked cross-attention -> self-attention -> FFN, each residual + post-LayerNorm."""

    def __init__(self, dim: int, num_heads: int, dim_feedforward: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, dim_feedforward), nn.ReLU(inplace=True),
                                 nn.Linear(dim_feedforward, dim))
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(3)])

    def forward(self, queries: Tensor, query_pos: Tensor, memory: Tensor, memory_pos: Tensor,
                attn_mask: Tensor | None) -> Tensor:
        """(B, Q, D) queries attend to (B, HW, D) memory; attn_mask (B*heads, Q, HW) bool."""
        attended, _ = self.cross_attn(queries + query_pos, memory + memory_pos, memory,
                                      attn_mask=attn_mask, need_weights=False)
        queries = self.norms[0](queries + attended)
        q = queries + query_pos
        attended, _ = self.self_attn(q, q, queries, need_weights=False)
        queries = self.norms[1](queries + attended)
        return self.norms[2](queries + self.ffn(queries))


def attention_mask_from(mask_logits: Tensor, size: tuple[int, int], num_heads: int) -> Tensor:
    """Masked attention: True where a query may NOT look (its mask's sigmoid < 0.5).

    Args:
        mask_logits: (B, Q, h4, w4) current mask predictions.
        size: (h, w) of the level attended to.

    Returns:
        (B * num_heads, Q, h*w) bool; rows that would be all True are cleared (a query
        with an empty mask attends everywhere, as in Mask2Former).
    """
    resized = F.interpolate(mask_logits, size=size, mode='bilinear', align_corners=False)
    blocked = (resized.sigmoid() < 0.5).flatten(2)
    blocked[blocked.all(dim=-1)] = False
    return blocked.repeat_interleave(num_heads, dim=0).detach()


@MODELS.register_module()
class MaskTransformerDecoder(nn.Module):
    """Queries -> per-layer (class embedding, mask logits) predictions.

    Args:
        in_channels: channels of the pixel-decoder levels.
        mask_dim: channels of the mask features.
        embed_dim: dimension of the class embeddings (the CLIP joint space).
        hidden_dim: query width.
        num_queries: number of mask proposals.
        num_heads: attention heads.
        dim_feedforward: FFN width.
        num_layers: decoder layers (Mask2Former: 9 = 3 rounds over 3 levels).
        num_levels: feature levels attended to, round robin.
    """

    def __init__(self, in_channels: int = 256, mask_dim: int = 256, embed_dim: int = 768, *,
                 hidden_dim: int = 256, num_queries: int = 100, num_heads: int = 8,
                 dim_feedforward: int = 2048, num_layers: int = 9, num_levels: int = 3) -> None:
        super().__init__()
        if hidden_dim % 4:
            raise ValueError(f'hidden_dim must be divisible by 4, got {hidden_dim}')
        self.num_heads, self.num_levels, self.num_queries = num_heads, num_levels, num_queries
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_pos = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(num_levels, hidden_dim)
        self.input_proj = nn.ModuleList([
            nn.Conv2d(in_channels, hidden_dim, 1) if in_channels != hidden_dim else nn.Identity()
            for _ in range(num_levels)])
        self.layers = nn.ModuleList([MaskedDecoderLayer(hidden_dim, num_heads, dim_feedforward)
                                     for _ in range(num_layers)])
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)
        if mask_dim != hidden_dim:
            raise ValueError(f'mask_dim ({mask_dim}) must equal hidden_dim ({hidden_dim}): the '
                             'class head adds mask-pooled mask features to the queries')
        self.mask_pooling_proj = nn.Sequential(nn.LayerNorm(hidden_dim),
                                               nn.Linear(hidden_dim, hidden_dim))
        self.class_embed = MLP(hidden_dim, hidden_dim, embed_dim, 3)

    def predict_heads(self, queries: Tensor, mask_features: Tensor,
                      with_class: bool = True) -> QueryPrediction:
        """(B, Q, D) queries -> ((B, Q, E) class embeddings (None without ``with_class``),
        (B, Q, H/4, W/4) mask logits)."""
        normed = self.decoder_norm(queries)
        masks = torch.einsum('bqc,bchw->bqhw', self.mask_embed(normed), mask_features)
        if not with_class:
            return None, masks
        pooled, _ = mask_pool(mask_features, masks)
        return self.class_embed(self.mask_pooling_proj(pooled) + normed), masks

    def forward(self, levels: list[Tensor], mask_features: Tensor,
                every_class: bool = True) -> list[QueryPrediction]:
        """Run the decoder.

        Args:
            levels: ``num_levels`` maps (B, in_channels, h_l, w_l), coarse to fine.
            mask_features: (B, mask_dim, H/4, W/4).
            every_class: class embeddings after every layer (the auxiliary losses need them);
                False computes them for the last output only (inference: the same final
                output without nine mask-pooling products; earlier class embeddings None).

        Returns:
            ``num_layers + 1`` predictions (before the first layer, then after each); the
            last is the final output, the others feed the auxiliary losses.
        """
        if len(levels) != self.num_levels:
            raise ValueError(f'expected {self.num_levels} feature levels, got {len(levels)}')
        memories, positions, sizes = [], [], []
        for index, level in enumerate(levels):
            height, width = level.shape[-2:]
            sizes.append((height, width))
            projected = self.input_proj[index](level).flatten(2).transpose(1, 2)
            memories.append(projected + self.level_embed.weight[index])
            positions.append(sine_position_encoding(height, width, projected.shape[-1],
                                                    level.device).flatten(1).t()[None])
        batch = mask_features.shape[0]
        queries = self.query_feat.weight[None].expand(batch, -1, -1)
        query_pos = self.query_pos.weight[None].expand(batch, -1, -1)
        last = len(self.layers)
        predictions = [self.predict_heads(queries, mask_features, every_class or last == 0)]
        for index, layer in enumerate(self.layers):
            level = index % self.num_levels
            mask = attention_mask_from(predictions[-1][1], sizes[level], self.num_heads)
            queries = layer(queries, query_pos, memories[level], positions[level], mask)
            predictions.append(self.predict_heads(queries, mask_features,
                                                  every_class or index == last - 1))
        return predictions
