"""AdaCLIP's prompted towers: learnable tokens in the first ViT and text blocks.

As released (caoyunkang/AdaCLIP ``method/adaclip.py``, ``PromptLayer``):

* **visual**: before block 0 the ``length`` prompt tokens are *appended* after the class and
  patch tokens (no position embedding, after ``ln_pre``); before blocks 1..``depth - 1`` those
  last ``length`` tokens are *replaced* by that block's prompts; later blocks carry them on.
  The tokens read at a feature layer are the first ``1 + h*w`` (prompts dropped), taken
  straight from the residual stream (no ``ln_post``); the image embedding is the class token
  after the last block through ``ln_post`` and the projection;
* **text**: block 0 runs on the plain sentence; before blocks 1..``depth - 1`` positions
  1..``length`` (the first words after SOT) are replaced by that block's prompts, so the
  static text prompt of block 0 is never used;
* a block's prompt is ``static[block] + dynamic`` where the dynamic part is generated per image
  from its plain CLIP embedding; the sum is cast with ``.half()`` before it enters the
  sequence (the release trains and tests under fp16 autocast), which :func:`released_cast`
  reproduces in float32 by rounding to float16 values.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import run_vit_block

#: The normal and anomalous states and the templates of AdaCLIP's text ensemble
#: (``TextEmbebddingLayer``): every state in every template, 28 normal and 20 anomalous
#: sentences per object; '-' in an object name becomes a space.
ADACLIP_NORMAL_STATES: tuple[str, ...] = (
    '{}', 'flawless {}', 'perfect {}', 'unblemished {}', '{} without flaw', '{} without defect',
    '{} without damage')
ADACLIP_ANOMALOUS_STATES: tuple[str, ...] = (
    'damaged {}', 'broken {}', '{} with flaw', '{} with defect', '{} with damage')
ADACLIP_TEMPLATES: tuple[str, ...] = (
    'a bad photo of a {}.', 'a low resolution photo of the {}.', 'a bad photo of the {}.',
    'a cropped photo of the {}.')


def state_sentences(object_name: str) -> tuple[list[str], list[str]]:
    """AdaCLIP's (28 normal, 20 anomalous) sentences for one object name."""
    name = object_name.replace('-', ' ')

    def fill(states: Sequence[str]) -> list[str]:
        return [t.format(s.format(name)) for s in states for t in ADACLIP_TEMPLATES]

    return fill(ADACLIP_NORMAL_STATES), fill(ADACLIP_ANOMALOUS_STATES)


def released_cast(prompts: Tensor, half_cast: bool) -> Tensor:
    """The release's ``.half()`` on the prompt tokens, kept in the input's dtype."""
    if not half_cast or prompts.dtype == torch.float16:
        return prompts
    return prompts.to(torch.float16).to(prompts.dtype)


def plain_image_embedding(backbone: nn.Module, images: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, C) unnormalised CLIP image embeddings (``ln_post`` + projection of
    the class token), the input of the dynamic prompt generators."""
    visual = backbone.visual
    x, _ = backbone.vit_tokens(images)
    for block in visual.transformer.resblocks:
        x = run_vit_block(visual.transformer, block, x)
    return class_embedding(visual, x)


def class_embedding(visual: nn.Module, x: Tensor) -> Tensor:
    """(B, T, width) tokens after the last block -> (B, C) projected class token."""
    pooled = visual.ln_post(x[:, 0])
    return pooled @ visual.proj if visual.proj is not None else pooled


def prompted_image_tokens(backbone: nn.Module, images: Tensor, prompts: Sequence[Tensor],
                          feature_layers: Sequence[int]
                          ) -> tuple[Tensor, list[Tensor], tuple[int, int]]:
    """The visual tower with prompt tokens appended, as released.

    Args:
        backbone: an ``OpenCLIPBackbone`` with a ViT tower.
        images: (B, 3, H, W) normalised images.
        prompts: per prompted block (``depth`` of them), (B, length, width) tokens.
        feature_layers: 0-based blocks whose tokens are returned.

    Returns:
        ``(image embedding (B, C) unnormalised, [(B, h*w, width)] patch tokens per feature
        layer (residual stream, no ln_post), (h, w) grid)``.
    """
    visual = backbone.visual
    blocks = visual.transformer.resblocks
    wanted = [int(i) % len(blocks) for i in feature_layers]
    x, grid = backbone.vit_tokens(images)
    num_tokens = x.shape[1]
    tokens: dict[int, Tensor] = {}
    for index, block in enumerate(blocks):
        if index < len(prompts):
            kept = x if index == 0 else x[:, :num_tokens]
            x = torch.cat([kept, prompts[index].to(x.dtype)], dim=1)
        x = run_vit_block(visual.transformer, block, x)
        if index in wanted:
            tokens[index] = x[:, 1:num_tokens]
    return class_embedding(visual, x), [tokens[i] for i in wanted], grid
