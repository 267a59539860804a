"""A toy backbone whose dense features name the colour of each patch (detection tests).

Features are soft assignments of every pixel to the synthetic palette (channel 0 =
grey background, channel k = ``COLOURS[k - 1]``), averaged per patch; the text
encoder maps a name containing a palette colour word to that channel's one-hot
vector and any other text to a fixed random unit vector. Dense features are thus
informative enough for known-answer detection on the synthetic shapes.
"""
from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.datasets.synthetic import COLOURS

GREY = (128.0, 128.0, 128.0)


class ColourBackbone(nn.Module):
    """Backbone contract (``dense_features``, ``encode_text``, ``image_embedding``) on colours.

    Inputs are expected un-normalised (``mean`` 0, ``std`` 1: OVModel picks them up).
    """

    mean = (0.0, 0.0, 0.0)
    std = (1.0, 1.0, 1.0)

    def __init__(self, patch_size: int = 4, sigma: float = 30.0) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.sigma = sigma
        self.logit_scale = 100.0
        self.weights_id = 'toy:colour'
        palette = torch.tensor([GREY] + [c for _, c in COLOURS], dtype=torch.float32)
        self.register_buffer('palette', palette, persistent=False)
        self.embed_dim = len(palette)
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)

    def _pixel_assignments(self, images: Tensor) -> Tensor:
        dist = ((images[:, None] - self.palette[None, :, :, None, None]) ** 2).sum(dim=2)
        return torch.softmax(-dist / (2 * self.sigma ** 2), dim=1)

    def dense_features(self, images: Tensor) -> Tensor:
        pad_h = -images.shape[-2] % self.patch_size
        pad_w = -images.shape[-1] % self.patch_size
        images = F.pad(images, (0, pad_w, 0, pad_h), value=GREY[0])
        return F.avg_pool2d(self._pixel_assignments(images), self.patch_size)

    def image_embedding(self, images: Tensor) -> Tensor:
        return F.normalize(self._pixel_assignments(images).mean(dim=(2, 3)), dim=-1)

    def encode_text(self, texts: list[str]) -> Tensor:
        rows = []
        for text in texts:
            words = text.lower().replace('.', ' ').split()
            channel = next((k + 1 for k, (name, _) in enumerate(COLOURS) if name in words), None)
            if channel is None and 'grey' in words:
                channel = 0
            if channel is not None:
                rows.append(F.one_hot(torch.tensor(channel), self.embed_dim).float())
            else:
                seed = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
                rows.append(torch.randn(self.embed_dim,
                                        generator=torch.Generator().manual_seed(seed)))
        return F.normalize(torch.stack(rows), dim=-1)

