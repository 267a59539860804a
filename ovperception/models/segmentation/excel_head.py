"""ExCEL's segmentation network, trained on the online pseudo-masks (zwyang6/ExCEL,
``model/segformer_head.py`` SegFormerHead + ``model/decoder/TransDecoder.py``
DecoderTransformer, as ``model/model_excel.py`` wires them).

The frozen CLIP's per-block tokens (all L blocks) are fused: one two-layer MLP per block
(Linear -> ReLU -> Linear) to ``embed_dim`` channels, concatenated, a 1x1 convolution back to
``embed_dim``, ``Dropout2d``. Three CLIP residual attention blocks (QuickGELU, 8 heads) over
the h*w patch tokens and a 1x1 convolution give the class logits. The fused features also
give the predicted patch affinity (:func:`predicted_affinity`) that ExCEL trains with its
affinity loss, uses to pick attention layers when refining pseudo-masks, and feeds back into
CLIP as the learnable visual calibration (LVC).

The official decoder's ``MultiheadAttention`` (``myAtt.py``) computes what
``torch.nn.MultiheadAttention`` computes, with the same parameter names.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, ResidualAttentionBlock
from torch import Tensor, nn

from ovperception.registry import MODELS

#: Scale of the predicted affinity around its batch mean (the official ``* 3.0``).
AFFINITY_SCALE = 3.0


def centred_similarity(features: Tensor, scale: float) -> Tensor:
    """(B, h*w, h*w) ``(cos - mean(cos over the whole batch)) * scale`` of the patch pairs of
    (B, D, h, w) features: the common core of the predicted affinity and of the LVC
    attention (:func:`~.excel_visual.calibration_attention`)."""
    flat = F.normalize(features.flatten(2), dim=1)
    similarity = flat.transpose(1, 2) @ flat
    return (similarity - similarity.mean()) * scale


def predicted_affinity(fused: Tensor) -> Tensor:
    """(B, h*w, h*w) predicted patch affinity in (0, 1) of (B, D, h, w) fused features:
    ``sigmoid((cos - mean(cos over the whole batch)) * 3)``."""
    return torch.sigmoid(centred_similarity(fused, AFFINITY_SCALE))


class LayerMLP(nn.Sequential):
    """Linear -> ReLU -> Linear on (B, N, C) tokens (the official SegFormerHead ``MLP``)."""

    def __init__(self, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_channels, embed_dim)
        self.relu = nn.ReLU()
        self.proj_2 = nn.Linear(embed_dim, embed_dim)


@MODELS.register_module()
class ExCELSegHead(nn.Module):
    """Per-block CLIP tokens -> (class logits, fused features).

    Args:
        in_channels: width of the CLIP ViT's tokens (768 for ViT-B/16).
        num_layers: number of blocks whose tokens are fused (all of them: 12).
        embed_dim: channels of the fused features and the decoder (256).
        num_classes: output classes, background included (21 for VOC).
        decoder_layers: residual attention blocks of the decoder (3).
        decoder_heads: their attention heads (8).
        dropout: ``Dropout2d`` probability after the fusion (0.1).
    """

    def __init__(self, in_channels: int = 768, num_layers: int = 12, embed_dim: int = 256,
                 num_classes: int = 21, decoder_layers: int = 3, decoder_heads: int = 8,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if min(in_channels, num_layers, embed_dim, num_classes, decoder_heads) < 1:
            raise ValueError('ExCELSegHead sizes must be positive')
        if embed_dim % decoder_heads:
            raise ValueError(f'embed_dim={embed_dim} is not divisible by '
                             f'decoder_heads={decoder_heads}')
        self.in_channels, self.num_layers = int(in_channels), int(num_layers)
        self.embed_dim, self.num_classes = int(embed_dim), int(num_classes)
        self.layer_mlps = nn.ModuleList(LayerMLP(in_channels, embed_dim)
                                        for _ in range(num_layers))
        self.fuse = nn.Conv2d(embed_dim * num_layers, embed_dim, kernel_size=1)
        self.dropout = nn.Dropout2d(dropout)
        self.decoder = nn.ModuleList(
            ResidualAttentionBlock(embed_dim, decoder_heads, act_layer=QuickGELU,
                                   batch_first=True) for _ in range(decoder_layers))
        self.linear_pred = nn.Conv2d(embed_dim, num_classes, kernel_size=1)

    def fuse_layers(self, layer_tokens: Tensor) -> Tensor:
        """(L, B, C, h, w) per-block patch tokens -> (B, embed_dim, h, w) fused features."""
        if layer_tokens.dim() != 5 or layer_tokens.shape[0] != self.num_layers \
                or layer_tokens.shape[2] != self.in_channels:
            raise ValueError(f'ExCELSegHead expects ({self.num_layers}, B, {self.in_channels}, '
                             f'h, w) block tokens, got {tuple(layer_tokens.shape)}')
        _, batch, _, height, width = layer_tokens.shape
        projected = [mlp(tokens.float().flatten(2).transpose(1, 2)).transpose(1, 2)
                     .reshape(batch, -1, height, width)
                     for mlp, tokens in zip(self.layer_mlps, layer_tokens)]
        return self.dropout(self.fuse(torch.cat(projected, dim=1)))

    def decode(self, fused: Tensor) -> Tensor:
        """(B, embed_dim, h, w) fused features -> (B, num_classes, h, w) logits."""
        batch, channels, height, width = fused.shape
        x = fused.flatten(2).transpose(1, 2)
        for block in self.decoder:
            x = block(x)
        return self.linear_pred(x.transpose(1, 2).reshape(batch, channels, height, width))

    def forward(self, layer_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(L, B, C, h, w) per-block patch tokens -> ((B, num_classes, h, w) logits,
        (B, embed_dim, h, w) fused features)."""
        fused = self.fuse_layers(layer_tokens)
        return self.decode(fused), fused
