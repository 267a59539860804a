"""ExCEL's training-free visual path (building blocks): CLIP-Surgery dual path over the last
blocks of a CLIP ViT, and the attention-affinity refinement of class maps.

Dual path (official ``clip_surgery_model.py``, last ``surgery_blocks`` = 5 blocks): each block
computes q, k, v from the *original* path's tokens; the original path runs the block as usual
(its softmax(q k^T) attention and FFN); the new path adds, without FFN, the block's output
projection of ``A v`` where ``A`` = the mean of softmax(q q^T), softmax(k k^T),
softmax(v v^T) (each scaled by head_dim^-0.5) *summed over the heads*. The class token of the
new path is replaced by the original one; ln_post and the projection follow, and the tokens are
L2-normalised over the token axis (as the official ``generate_clip_fts`` does).

Attention kept for the refinement: per block, the original attention averaged over heads
(blocks before the dual path, as ``nn.MultiheadAttention`` returns it) or summed over heads
(dual-path blocks, as the official ``Attention`` returns it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import block_ffn, block_output_projection, block_qkv

SURGERY_BLOCKS = 5
AFFINITY_LAYERS = 6
BOX_THRESHOLD = 0.79


@dataclass
class SurgeryOutput:
    """tokens: (B, 1 + h*w, C) projected tokens, normalised over the token axis;
    attention: (L, B, 1 + h*w, 1 + h*w) per-block original attention; grid: (h, w)."""

    tokens: Tensor
    attention: Tensor
    grid: tuple[int, int]


def _softmax_logits(a: Tensor, b: Tensor) -> Tensor:
    return (a @ b.transpose(-2, -1) * a.shape[-1] ** -0.5).softmax(-1)


@torch.no_grad()
def surgery_forward(backbone: nn.Module, images: Tensor,
                    surgery_blocks: int = SURGERY_BLOCKS) -> SurgeryOutput:
    """The dual-path forward of an ``OpenCLIPBackbone`` ViT on (B, 3, H, W) images."""
    x, grid = backbone._vit_embed(images)
    blocks = list(backbone.visual.transformer.resblocks)
    attention = []
    for block in blocks[:len(blocks) - surgery_blocks]:
        q, k, v = block_qkv(block, x)
        weights = _softmax_logits(q, k)
        attention.append(weights.mean(1))
        x = block_ffn(block, x + block_output_projection(block, weights @ v))
    new_path, original = x, x
    for block in blocks[len(blocks) - surgery_blocks:]:
        q, k, v = block_qkv(block, original)
        weights = _softmax_logits(q, k)
        surgery = ((_softmax_logits(q, q) + _softmax_logits(k, k) + _softmax_logits(v, v)) / 3
                   ).sum(1, keepdim=True)
        new_path = new_path + block_output_projection(block, surgery @ v)
        original = block_ffn(block, original + block_output_projection(block, weights @ v))
        attention.append(weights.sum(1))
    tokens = torch.cat([original[:, :1], new_path[:, 1:]], dim=1)
    tokens = backbone.visual.ln_post(tokens)
    if backbone.visual.proj is not None:
        tokens = tokens @ backbone.visual.proj
    return SurgeryOutput(F.normalize(tokens, dim=1), torch.stack(attention), grid)


def transition_matrix(affinity: Tensor) -> Tensor:
    """(n, n) affinity -> symmetric, doubly normalised and squared transition matrix."""
    trans = affinity / affinity.sum(0, keepdim=True)
    trans = trans / trans.sum(1, keepdim=True)
    for _ in range(2):
        trans = trans / trans.sum(0, keepdim=True)
        trans = trans / trans.sum(1, keepdim=True)
    trans = (trans + trans.T) / 2
    return trans @ trans


def score_boxes(score_map: np.ndarray, threshold: float = BOX_THRESHOLD) -> list[tuple]:
    """Boxes (x0, y0, x1, y1) of every region of ``score_map`` (h, w, values in [0, 1])
    above ``threshold`` times its maximum, on its uint8 version (the official
    ``scoremap2bbox`` with multiple contours); ``[(0, 0, 0, 0)]`` when there is none."""
    height, width = score_map.shape
    image = (score_map * 255).astype(np.uint8)
    _, binary = cv2.threshold(image, int(threshold * image.max()), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if not contours:
        return [(0, 0, 0, 0)]
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
    return boxes


def refine_with_affinity(class_maps: Tensor, attention: Tensor, classes: Sequence[int],
                         grid: tuple[int, int], layers: int = AFFINITY_LAYERS,
                         threshold: float = BOX_THRESHOLD) -> Tensor:
    """(len(classes), h, w) class maps propagated by the patch attention.

    Args:
        class_maps: (h*w, K) patch-class maps of one image (feature surgery, patches only).
        attention: (L, 1 + h*w, 1 + h*w) per-block attention of that image.
        classes: the indices (into K) of the classes present.
        grid: (h, w).
    """
    trans = transition_matrix(attention[-layers:, 1:, 1:].mean(0).float())
    refined = []
    for cls in classes:
        score_map = class_maps[:, cls].float().reshape(grid)
        mask = torch.zeros(grid, device=trans.device)
        for x0, y0, x1, y1 in score_boxes(score_map.cpu().numpy(), threshold):
            mask[y0:y1, x0:x1] = 1
        refined.append((trans * mask.reshape(1, -1)) @ score_map.reshape(-1, 1))
    return torch.stack([r.reshape(grid) for r in refined])
