"""Chimera-Seg's network: a trainable body and the CLIP Semantic Head (CSH).

The CSH maps the body's (B, C_body, h, w) features into CLIP's joint space:

1. a trainable 1x1 convolution (``adapter``) to the ViT width,
2. a class token (the mean of the adapted tokens plus a trainable offset) put in front,
3. the **last ``head_blocks`` blocks of the frozen CLIP ViT** (the "partial CLIP"),
4. CLIP's frozen ``ln_post`` and projection on the patch tokens.

The result is a dense map compared with frozen CLIP text embeddings by cosine, as every
other dense backbone of the framework.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import pad_to_multiple, tokens_to_map
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.registry import MODELS


@MODELS.register_module()
class ChimeraBackbone(CLIPWrapperBackbone):
    """Body + CLIP Semantic Head: trainable body and adapter, frozen CLIP blocks and projection.

    Args:
        clip: a frozen ``OpenCLIPBackbone`` ViT (or config); its last ``head_blocks`` blocks,
            ``ln_post`` and ``proj`` form the semantic head; its text tower embeds the names
            and its full image tower gives the global targets of the distillation.
        body: the segmentation network (e.g. ``TimmSegBody``); must expose ``out_channels``
            and ``stride`` and map (B, 3, H, W) to (B, out_channels, H/stride, W/stride).
        head_blocks: number of CLIP's last ViT blocks in the semantic head.
        pretrained: CLIP weights replacing the CLIP config's (see ``CLIPWrapperBackbone``).
    """

    frozen = False  # the body and the adapter train

    def __init__(self, clip: nn.Module | dict, body: nn.Module | dict, *, head_blocks: int = 3,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        super().__init__(clip, pretrained, method='Chimera-Seg')
        if not getattr(self.clip, 'frozen', True):
            raise ValueError('Chimera-Seg keeps CLIP frozen: set clip.frozen=True')
        blocks = len(self.clip.visual.transformer.resblocks)
        if not 1 <= head_blocks <= blocks:
            raise ValueError(f'head_blocks must be in [1, {blocks}] for this CLIP, '
                             f'got {head_blocks}')
        self.head_blocks = int(head_blocks)
        self.body = body if isinstance(body, nn.Module) else MODELS.build(body)
        width = int(self.clip.visual.transformer.width)
        self.adapter = nn.Conv2d(int(self.body.out_channels), width, kernel_size=1)
        self.class_offset = nn.Parameter(torch.zeros(width))
        self.patch_size = int(self.body.stride)

    @property
    def grid_placement(self) -> tuple[int | None, bool]:
        """The body's grid: stride ``patch_size``, padded bottom/right."""
        return self.patch_size, False

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, C, ceil(H/s), ceil(W/s)) joint-space features
        (not normalised; gradients reach the body and the adapter)."""
        images = pad_to_multiple(images, (self.patch_size, self.patch_size))
        maps = self.adapter(self.body(images))  # (B, width, h, w)
        tokens = maps.flatten(2).transpose(1, 2)  # (B, h*w, width)
        cls = tokens.mean(1, keepdim=True) + self.class_offset
        tokens = self.clip.run_last_vit_blocks(torch.cat([cls, tokens], dim=1),
                                               self.head_blocks)
        return self.clip.project_patch_tokens(tokens_to_map(tokens[:, 1:], maps.shape[-2:]))
