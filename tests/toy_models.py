"""Deterministic toy components for tests that do not need a real CLIP tower."""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor, nn


class ToyBackbone(nn.Module):
    """A patchify conv as 'dense features' and a hash-seeded text encoder.

    Follows the backbone contract: ``dense_features`` (B, 3, H, W) -> (B, C, h, w)
    with h = ceil(H / patch), ``encode_text`` -> (K, C) L2-normalised.
    """

    def __init__(self, embed_dim: int = 8, patch_size: int = 4, weights_id: str = 'toy:v1'):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.logit_scale = 100.0
        self.weights_id = weights_id
        generator = torch.Generator().manual_seed(1)
        self.proj = nn.Conv2d(3, embed_dim, patch_size, patch_size)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.proj.weight.shape, generator=generator))
            self.proj.bias.zero_()
        self.proj.requires_grad_(False)
        self.text_calls: list[list[str]] = []

    def dense_features(self, images: Tensor) -> Tensor:
        pad_h = -images.shape[-2] % self.patch_size
        pad_w = -images.shape[-1] % self.patch_size
        return self.proj(nn.functional.pad(images, (0, pad_w, 0, pad_h)))

    def encode_text(self, texts: list[str]) -> Tensor:
        self.text_calls.append(list(texts))
        rows = []
        for text in texts:
            seed = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
            rows.append(torch.randn(self.embed_dim, generator=torch.Generator().manual_seed(seed)))
        out = torch.stack(rows)
        return out / out.norm(dim=-1, keepdim=True)


def toy_model(**kwargs):
    """An OVModel over the toy backbone and the training-free similarity head."""
    from ovperception.models import OVModel
    from ovperception.models.segmentation import DenseSimilarityHead
    head_kwargs = kwargs.pop('head_kwargs', {})
    backbone = kwargs.pop('backbone', None) or ToyBackbone()
    head = kwargs.pop('head', None) or DenseSimilarityHead(**head_kwargs)
    kwargs.setdefault('template_set', 'single')
    kwargs.setdefault('test_cfg', dict(mode='slide', crop_size=16, stride=8, crop_batch_size=4))
    return OVModel(backbone, head, **kwargs)
