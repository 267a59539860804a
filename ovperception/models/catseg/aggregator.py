"""CAT-Seg's cost aggregation (Cho et al., CVPR 2024), as released (cvlab-kaist/CAT-Seg).

Cost volume: cosine similarity between the dense CLIP image embeddings and each class's
text embedding (per prompt template), embedded by a 7x7 convolution; then ``num_layers``
x (spatial aggregation with guided Swin blocks -> class aggregation with guided linear
attention); then an upsampling decoder (two transposed-conv x2 steps, each joined by
projected intermediate CLIP features) to one logit map per class at 4x the CLIP grid.
Submodule names are the released ones, so released weights map key for key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.catseg.class_aggregation import ClassAggregation
from ovperception.models.catseg.spatial_aggregation import SpatialAggregation
from ovperception.registry import MODELS


def cost_volume(image: Tensor, text: Tensor) -> Tensor:
    """Cosine cost volume.

    Args:
        image: (B, C, H, W) dense image embeddings.
        text: (B, T, P, C) text embeddings (T classes, P templates).

    Returns:
        (B, P, T, H, W) cosine similarities.
    """
    return torch.einsum('bchw,btpc->bpthw', F.normalize(image, dim=1), F.normalize(text, dim=-1))


class AggregatorLayer(nn.Module):
    """Spatial aggregation then class aggregation (released names ``swin_block`` /
    ``attention``)."""

    def __init__(self, dim: int, text_guidance_dim: int, appearance_guidance_dim: int,
                 num_heads: int, resolution: tuple[int, int], window: int, pad_len: int) -> None:
        super().__init__()
        self.swin_block = SpatialAggregation(dim, appearance_guidance_dim, resolution,
                                             num_heads, window)
        self.attention = ClassAggregation(dim, text_guidance_dim, num_heads, pad_len)

    def forward(self, x: Tensor, appearance: Tensor | None, text: Tensor | None,
                pooling: tuple[int, int]) -> Tensor:
        """(B, C, T, H, W) -> (B, C, T, H, W)."""
        return self.attention(self.swin_block(x, appearance), text, pooling)


def _conv_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU())


class UpBlock(nn.Module):
    """x2 transposed convolution to ``C_in - G`` channels, concatenated with the (G-channel)
    guidance, then (3x3 conv -> GroupNorm(C_out / 16) -> ReLU) x 2 (released ``Up``)."""

    def __init__(self, in_channels: int, out_channels: int, guidance_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels - guidance_channels, 2, stride=2)
        groups = out_channels // 16
        self.conv = nn.Module()
        self.conv.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(groups, out_channels), nn.ReLU(inplace=True))

    def forward(self, x: Tensor, guidance: Tensor | None) -> Tensor:
        """(B*T, C_in, h, w), (B, G, 2h, 2w) or None -> (B*T, C_out, 2h, 2w)."""
        x = self.up(x)
        if guidance is not None:
            x = torch.cat([x, guidance.repeat_interleave(x.shape[0] // guidance.shape[0], 0)], 1)
        return self.conv.double_conv(x)


@dataclass
class AggregatorOutput:
    """Intermediate results of one aggregator call (for tests / golden comparisons).

    Attributes:
        cost: (B, P, T', H, W) cost volume (T' = kept classes).
        logits: (B, T, 4H, 4W) per-class logits (dropped classes: -100).
    """

    cost: Tensor
    logits: Tensor


@MODELS.register_module()
class CostAggregator(nn.Module):
    """The released ``Aggregator``.

    Args:
        text_guidance_dim: CLIP embedding size (text guidance input).
        text_guidance_proj_dim: projected text guidance (128).
        appearance_guidance_dim: CLIP embedding size (guidance from the dense embeddings).
        appearance_guidance_proj_dim: projected appearance guidance (128).
        decoder_dims: channels of the two upsampling steps ((64, 32)).
        decoder_guidance_dims: channels of the two intermediate CLIP guidance maps
            ((256, 128), after the model's transposed convolutions).
        decoder_guidance_proj_dims: their projections ((32, 16)).
        num_layers: aggregator layers (2 in the released ViT-B / ViT-L configs).
        num_heads: heads of both attentions (4). hidden_dim: cost-embedding channels (128).
        pooling_size: class-aggregation pooling while training ((2, 2) released).
        test_pooling_size: the same at test time ((1, 1): the released eval script).
        feature_resolution: CLIP grid (24, 24). window_size: Swin window (12).
        prompt_channel: prompt templates P (1: the released ``single`` template).
        pad_len: classes padded to / pre-selected down to this number (256); 0 = off.
    """

    def __init__(self, text_guidance_dim: int = 512, text_guidance_proj_dim: int = 128,
                 appearance_guidance_dim: int = 512, appearance_guidance_proj_dim: int = 128,
                 decoder_dims: Sequence[int] = (64, 32),
                 decoder_guidance_dims: Sequence[int] = (256, 128),
                 decoder_guidance_proj_dims: Sequence[int] = (32, 16),
                 num_layers: int = 2, num_heads: int = 4, hidden_dim: int = 128,
                 pooling_size: Sequence[int] = (2, 2), test_pooling_size: Sequence[int] = (1, 1),
                 feature_resolution: Sequence[int] = (24, 24), window_size: int = 12,
                 prompt_channel: int = 1, pad_len: int = 256) -> None:
        super().__init__()
        self.feature_resolution = tuple(int(v) for v in feature_resolution)
        self.pooling_size = tuple(int(v) for v in pooling_size)
        self.test_pooling_size = tuple(int(v) for v in test_pooling_size)
        self.pad_len = int(pad_len)
        self.layers = nn.ModuleList([
            AggregatorLayer(hidden_dim, text_guidance_proj_dim, appearance_guidance_proj_dim,
                            num_heads, self.feature_resolution, window_size, self.pad_len)
            for _ in range(num_layers)])
        self.conv1 = nn.Conv2d(prompt_channel, hidden_dim, 7, padding=3)
        self.guidance_projection = (_conv_relu(appearance_guidance_dim, appearance_guidance_proj_dim)
                                    if appearance_guidance_dim > 0 else None)
        self.text_guidance_projection = (
            nn.Sequential(nn.Linear(text_guidance_dim, text_guidance_proj_dim), nn.ReLU())
            if text_guidance_dim > 0 else None)
        self.decoder_guidance_projection = nn.ModuleList([
            _conv_relu(d, p) for d, p in zip(decoder_guidance_dims, decoder_guidance_proj_dims)
        ]) if decoder_guidance_dims[0] > 0 else None
        self.decoder1 = UpBlock(hidden_dim, decoder_dims[0], decoder_guidance_proj_dims[0])
        self.decoder2 = UpBlock(decoder_dims[0], decoder_dims[1], decoder_guidance_proj_dims[1])
        self.head = nn.Conv2d(decoder_dims[1], 1, 3, padding=1)

    def forward(self, image: Tensor, text: Tensor, guidance: Sequence[Tensor]) -> Tensor:
        """Per-class logits.

        Args:
            image: (B, C, H, W) dense CLIP embeddings (H, W = ``feature_resolution``).
            text: (B, T, P, C) text embeddings.
            guidance: (B, C, H, W) appearance guidance, then the two decoder guidance maps
                (B, 256, 2H, 2W) and (B, 128, 4H, 4W).

        Returns:
            (B, T, 4H, 4W) logits.
        """
        return self.aggregate(image, text, guidance).logits

    def aggregate(self, image: Tensor, text: Tensor, guidance: Sequence[Tensor]
                  ) -> AggregatorOutput:
        """:meth:`forward` with its cost volume (see :class:`AggregatorOutput`)."""
        text = F.normalize(text, dim=-1)
        kept = None
        num_classes = text.shape[1]
        cost = cost_volume(image, text)
        if 0 < self.pad_len < num_classes:
            # released: keep the pad_len classes of highest max similarity, the rest -100
            best = cost.permute(0, 2, 1, 3, 4).flatten(2).max(dim=-1).values
            kept = best.topk(self.pad_len, dim=-1, sorted=False).indices
            text = torch.gather(text, 1, kept[..., None, None].expand(-1, -1, *text.shape[2:]))
            cost = cost_volume(image, text)
        embedded = self._embed(cost)
        appearance = self.guidance_projection(guidance[0]) if self.guidance_projection else None
        decoder_guidance: list[Tensor | None] = [None, None]
        if self.decoder_guidance_projection is not None:
            decoder_guidance = [proj(g) for proj, g in
                                zip(self.decoder_guidance_projection, guidance[1:])]
        text_guidance = None
        if self.text_guidance_projection is not None:
            text_guidance = self.text_guidance_projection(F.normalize(text.mean(dim=-2), dim=-1))
        pooling = self.pooling_size if self.training else self.test_pooling_size
        for layer in self.layers:
            embedded = layer(embedded, appearance, text_guidance, pooling)
        logits = self._decode(embedded, decoder_guidance)
        if kept is not None:
            full = logits.new_full((logits.shape[0], num_classes, *logits.shape[-2:]), -100.0)
            logits = full.scatter(1, kept[..., None, None].expand(-1, -1, *logits.shape[-2:]),
                                  logits)
        return AggregatorOutput(cost, logits)

    def _embed(self, cost: Tensor) -> Tensor:
        """(B, P, T, H, W) -> (B, hidden, T, H, W) by the 7x7 convolution per class."""
        batch, prompts, classes, height, width = cost.shape
        x = cost.transpose(1, 2).reshape(batch * classes, prompts, height, width)
        x = self.conv1(x)
        return x.view(batch, classes, -1, height, width).transpose(1, 2)

    def _decode(self, x: Tensor, guidance: Sequence[Tensor | None]) -> Tensor:
        """(B, hidden, T, H, W) -> (B, T, 4H, 4W)."""
        batch, channels, classes, height, width = x.shape
        x = x.transpose(1, 2).reshape(batch * classes, channels, height, width)
        x = self.head(self.decoder2(self.decoder1(x, guidance[0]), guidance[1]))
        return x.view(batch, classes, *x.shape[-2:])
