"""Base of backbones that wrap a frozen ``OpenCLIPBackbone`` ViT and change its dense path."""
from __future__ import annotations

import copy
from typing import Any, Sequence

from torch import Tensor, nn

from ovperception.registry import MODELS

KEEP_CLIP_WEIGHTS: Any = ...


class CLIPWrapperBackbone(nn.Module):
    """Delegates the backbone contract (text, global embedding, statistics) to ``self.clip``.

    Subclasses implement ``dense_features``. ``weights_id`` is CLIP's: text embeddings depend
    on the CLIP text tower alone, so they are shared with the plain CLIP pipeline. A wrapper is
    frozen (always in eval mode) unless its class sets ``frozen = False`` (CLIP-DINOiser trains
    its convolutions); its window grid is CLIP's unless it overrides ``grid_placement``.

    Args:
        clip: an ``OpenCLIPBackbone`` ViT or its config.
        pretrained: CLIP weights replacing ``clip['pretrained']`` of a config (what
            ``--weights`` sets); left out, the CLIP config's own weights are used.
        method: the method's name, for error messages.
    """

    def __init__(self, clip: nn.Module | dict, pretrained: str | None = KEEP_CLIP_WEIGHTS, *,
                 method: str) -> None:
        super().__init__()
        if pretrained is not KEEP_CLIP_WEIGHTS:
            if isinstance(clip, nn.Module):
                raise ValueError(f'{method}: pretrained= only applies to a CLIP config, '
                                 'not to a built backbone')
            clip = dict(copy.deepcopy(clip), pretrained=pretrained)
        self.clip = clip if isinstance(clip, nn.Module) else MODELS.build(clip)
        if getattr(self.clip, 'kind', None) != 'vit':
            raise NotImplementedError(f'{method} needs an open_clip ViT (OpenCLIPBackbone); got '
                                      f'{getattr(self.clip, "kind", type(self.clip).__name__)}')
        self.embed_dim = self.clip.embed_dim
        self.mean, self.std = self.clip.mean, self.clip.std
        self.weights_id = self.clip.weights_id

    #: Whether ``train()`` keeps the whole wrapper in eval mode.
    frozen: bool = True

    def train(self, mode: bool = True) -> CLIPWrapperBackbone:
        """Eval mode whatever ``mode`` asks when :attr:`frozen`."""
        return super().train(mode and not self.frozen)

    @property
    def grid_placement(self) -> tuple[int | None, bool]:
        """CLIP's placement of the window's grid (read by ``OVModel`` when stitching)."""
        return self.clip.grid_placement

    @property
    def logit_scale(self) -> float:
        """CLIP's logit scale."""
        return self.clip.logit_scale

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        """(K,) prompts -> (K, C) normalised CLIP text embeddings."""
        return self.clip.encode_text(list(texts))

    def image_embedding(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, C) CLIP global embeddings."""
        return self.clip.image_embedding(images)
