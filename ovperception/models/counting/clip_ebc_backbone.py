"""CLIP-EBC's image encoder: a CLIP ViT with visual prompt tuning, or a CLIP ResNet at
stride 16, giving the raw encoder features its decoder reads (``models/clip/model.py``).

* **ViT** (``_forward_vpt``): the patch and class tokens, after ``ln_pre``, get ``num_vpt``
  learned prompt tokens inserted after the class token before every block (deep VPT; one
  set per block) and removed after it; shallow VPT inserts them before the first block only
  and carries the block outputs on. The output is ``ln_post`` of the patch tokens, *without*
  CLIP's projection: (B, width, H/16, W/16). The encoder is frozen; the prompts train.
* **ResNet**: stem and layers 1-4 with layer 4 at stride 1 (CLIP-EBC's ``reduction <= 16``),
  without the attention pool: (B, 2048, H/16, W/16) for RN50. CLIP-EBC fine-tunes it.

The text tower is frozen, as CLIP-EBC's ``freeze_text_encoder``. Images are normalised
with the ImageNet statistics, as CLIP-EBC's datasets do (``mean`` / ``std`` attributes,
which ``OVModel`` copies into its data preprocessor). The parts CLIP-EBC drops
(the ViT's ``proj``, the ResNet's attention pool, CLIP's own ``logit_scale``) are removed
from the state dict, so a released checkpoint loads strictly.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import interpolate_pos_embed, tokens_to_map
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.registry import MODELS

#: ``torchvision.transforms.Normalize`` statistics of CLIP-EBC's ``datasets/crowd.py``.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@MODELS.register_module()
class CLIPEBCBackbone(OpenCLIPBackbone):
    """CLIP-EBC's encoder (VPT ViT or stride-16 ResNet) behind the backbone contract.

    Args:
        model_name, pretrained: as :class:`OpenCLIPBackbone` (``'ViT-B-16'`` / ``'RN50'``,
            ``'openai'``).
        input_size: training crop size; a ViT's position embedding is resized to its grid once
            (bicubic, CLIP-EBC's ``adjust_pos_embed``) so released checkpoints fit, and is
            resized again per input. None keeps CLIP's grid.
        num_vpt: prompt tokens per block (CLIP-EBC: 32).
        deep_vpt: one set of prompts per block (True, CLIP-EBC's default) or only before the
            first block.
        vpt_drop: dropout on the prompts (CLIP-EBC: 0).
        frozen: freeze the image encoder (CLIP-EBC: True for ViTs, whose prompts train;
            False for ResNets, which it fine-tunes). The text tower is always frozen.
        **kwargs: the rest of :class:`OpenCLIPBackbone` (``model_kwargs`` ...).
    """

    def __init__(self, model_name: str = 'ViT-B-16', pretrained: str | None = None, *,
                 input_size: int | None = 224, num_vpt: int = 32, deep_vpt: bool = True,
                 vpt_drop: float = 0.0, frozen: bool = True, **kwargs) -> None:
        super().__init__(model_name, pretrained, frozen=frozen, **kwargs)
        if self.kind not in ('vit', 'resnet'):
            raise ValueError(f'CLIP-EBC needs a CLIP ViT or ResNet, got {model_name} '
                             f'({self.kind})')
        visual = self.visual
        for param in self.model.parameters():
            param.requires_grad_(False)
        for param in visual.parameters():
            param.requires_grad_(not frozen)
        scale = self.model.logit_scale.detach().clone()
        del self.model.logit_scale  # CLIP-EBC's text encoder has none; its head has its own
        self.model.register_buffer('logit_scale', scale, persistent=False)
        self.num_vpt, self.deep_vpt = int(num_vpt), bool(deep_vpt)
        self.vpt = nn.ParameterList()
        if self.kind == 'vit':
            visual.proj = None
            if input_size is not None:
                self._resize_position_embedding(int(input_size))
            width = visual.conv1.out_channels
            bound = math.sqrt(6.0 / float(3 * visual.patch_size[0] + width))
            for _ in range(len(visual.transformer.resblocks) if self.deep_vpt else 1):
                self.vpt.append(nn.Parameter(torch.empty(self.num_vpt, width).uniform_(
                    -bound, bound)))
            self.vpt_dropout = nn.Dropout(vpt_drop) if vpt_drop > 0 else nn.Identity()
            self.channels = width
        else:
            first = visual.layer4[0]  # layer 4 at stride 1: CLIP-EBC's reduction <= 16
            first.avgpool = nn.Identity()
            if first.downsample is not None:
                first.downsample._modules['-1'] = nn.Identity()
            visual.attnpool = nn.Identity()
            self.channels = first.conv3.out_channels
        self.patch_size = 16
        # CLIP-EBC's datasets normalise with the ImageNet statistics, not CLIP's
        self.mean = tuple(v * 255.0 for v in IMAGENET_MEAN)
        self.std = tuple(v * 255.0 for v in IMAGENET_STD)

    def train(self, mode: bool = True) -> CLIPEBCBackbone:
        """A frozen encoder stays in eval mode; the prompt dropout follows ``mode``."""
        super().train(mode)
        if hasattr(self, 'vpt_dropout'):  # absent while the base class is being built
            self.vpt_dropout.train(mode)
        return self

    def _resize_position_embedding(self, input_size: int) -> None:
        """Permanently resize the ViT position embedding to ``input_size`` (CLIP-EBC)."""
        visual = self.visual
        patch = int(visual.patch_size[0])
        if input_size % patch:
            raise ValueError(f'input_size {input_size} is not a multiple of the patch {patch}')
        grid = (input_size // patch, input_size // patch)
        resized = interpolate_pos_embed(visual.positional_embedding.detach(),
                                        tuple(visual.grid_size), grid, mode='bicubic')
        visual.positional_embedding = nn.Parameter(
            resized, requires_grad=visual.positional_embedding.requires_grad)
        visual.grid_size = grid

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16) encoder features (C = ViT width or 2048)."""
        if self.kind == 'resnet':
            return self._resnet_stages(images)[-1]
        tokens, grid = self._vit_embed(images)  # (B, 1 + h*w, width)
        batch = tokens.shape[0]
        blocks = list(self.visual.transformer.resblocks)
        prompts = self.vpt_dropout(self.vpt[0].expand(batch, -1, -1))
        for index, block in enumerate(blocks):
            tokens = torch.cat([tokens[:, :1], prompts.to(tokens.dtype), tokens[:, 1:]], dim=1)
            tokens = self._run_blocks(tokens, [block])
            if index < len(blocks) - 1:
                prompts = (self.vpt_dropout(self.vpt[index + 1].expand(batch, -1, -1))
                           if self.deep_vpt else tokens[:, 1:1 + self.num_vpt])
            tokens = torch.cat([tokens[:, :1], tokens[:, 1 + self.num_vpt:]], dim=1)
        return tokens_to_map(self.visual.ln_post(tokens[:, 1:]), grid)
