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

Learnable visual calibration (LVC, the official ``Attention`` with ``ex_feats``): when the
trained segmenter's fused features ``F`` (B, D, h, w) are given, each dual-path block adds to
every head's surgery attention on the patch-patch block ``softmax(S')`` with
``S = cos(F_i, F_j)``, ``S' = (S - mean(S over the whole batch)) * 3`` and negative entries of
``S'`` set to -inf, before the heads are summed.

Per-block tokens (the official ``all_feats``, the segmenter's input): the tokens leaving each
block, of the *original* path for dual-path blocks, before ln_post -- with the official
in-place updates reproduced: the entry of the block before the dual path holds the final
tokens before ln_post (original class token, new-path patch tokens), and each dual-path
entry but the last holds the next block's original path after its attention residual
(before its FFN).

Attention-affinity refinement with the segmenter's affinity (``seg_attn``, after training or
from the LVC iteration on): of the last ``layers`` attention maps, those whose summed
difference ``sum(seg_attn - attn)`` is at most the mean over the layers are averaged, then
multiplied element-wise by ``seg_attn``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (attention_logits, block_ffn,
                                                 block_output_projection, block_qkv,
                                                 self_similarity_softmax)
from ovperception.models.segmentation.excel_head import centred_similarity

SURGERY_BLOCKS = 5
AFFINITY_LAYERS = 6
BOX_THRESHOLD = 0.79
#: The official LVC similarity scale (``gamma``) around the batch mean (``beta`` = 1).
LVC_SCALE = 3.0


@dataclass
class SurgeryOutput:
    """tokens: (B, 1 + h*w, C) projected tokens, normalised over the token axis;
    attention: (L, B, 1 + h*w, 1 + h*w) per-block original attention; grid: (h, w);
    layer_tokens: (L, B, 1 + h*w, width) tokens leaving each block (original path, before
    ln_post)."""

    tokens: Tensor
    attention: Tensor
    grid: tuple[int, int]
    layer_tokens: Tensor | None = None


def calibration_attention(ex_feats: Tensor) -> Tensor:
    """(B, h*w, h*w) LVC attention of the (B, D, h, w) segmenter features: softmax over
    ``(cos - mean(cos over the batch)) * 3`` with negative entries masked."""
    similarity = centred_similarity(ex_feats.float(), LVC_SCALE)
    similarity = similarity.masked_fill(similarity < 0, float('-inf'))
    return similarity.softmax(-1)


@torch.no_grad()
def surgery_forward(backbone: nn.Module, images: Tensor,
                    surgery_blocks: int = SURGERY_BLOCKS,
                    ex_feats: Tensor | None = None) -> SurgeryOutput:
    """The dual-path forward of an ``OpenCLIPBackbone`` ViT on (B, 3, H, W) images.

    Args:
        ex_feats: optional (B, D, h, w) segmenter features on the patch grid (LVC).
    """
    x, grid = backbone._vit_embed(images)
    blocks = list(backbone.visual.transformer.resblocks)
    calibration = None
    if ex_feats is not None:
        if tuple(ex_feats.shape[-2:]) != tuple(grid) or len(ex_feats) != len(images):
            raise ValueError(f'ex_feats of shape {tuple(ex_feats.shape)} do not match the '
                             f'{len(images)} images on a {tuple(grid)} patch grid')
        calibration = calibration_attention(ex_feats).to(x.dtype)[:, None]
    attention, layer_tokens = [], []
    for block in blocks[:len(blocks) - surgery_blocks]:
        q, k, v = block_qkv(block, x)
        weights = attention_logits(q, k).softmax(-1)
        attention.append(weights.mean(1))
        x = block_ffn(block, x + block_output_projection(block, weights @ v))
        layer_tokens.append(x)
    new_path, original = x, x
    for index, block in enumerate(blocks[len(blocks) - surgery_blocks:]):
        q, k, v = block_qkv(block, original)
        weights = attention_logits(q, k).softmax(-1)
        surgery = (self_similarity_softmax(q) + self_similarity_softmax(k)
                   + self_similarity_softmax(v)) / 3
        if calibration is not None:  # ``surgery`` is a fresh tensor: updated in place
            surgery[:, :, 1:, 1:] += calibration
        new_path = new_path + block_output_projection(block, surgery.sum(1, keepdim=True) @ v)
        original_mid = original + block_output_projection(block, weights @ v)
        if index:
            # The official blocks add their original-path attention residual in place to
            # their input (``x_ori += x_ori_res``), which ``all_feats`` holds a view of.
            layer_tokens[-1] = original_mid
        original = block_ffn(block, original_mid)
        attention.append(weights.sum(1))
        layer_tokens.append(original)
    tokens = torch.cat([original[:, :1], new_path[:, 1:]], dim=1)
    if surgery_blocks and len(blocks) > surgery_blocks:
        # The new path is updated in place (``x += x_res``, then the class token) on the
        # tensor the last single-path block returned: its ``all_feats`` entry ends as these.
        layer_tokens[len(blocks) - surgery_blocks - 1] = tokens
    tokens = backbone.visual.ln_post(tokens)
    if backbone.visual.proj is not None:
        tokens = tokens @ backbone.visual.proj
    return SurgeryOutput(F.normalize(tokens, dim=1), torch.stack(attention), grid,
                         torch.stack(layer_tokens))


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


def refinement_affinity(attention: Tensor, layers: int = AFFINITY_LAYERS,
                        seg_attn: Tensor | None = None) -> Tensor:
    """(n, n) patch affinity of one image for the refinement.

    Args:
        attention: (L, 1 + n, 1 + n) per-block attention.
        seg_attn: optional (n, n) affinity predicted by the segmenter.
    """
    attn = attention[-layers:, 1:, 1:].float()
    if seg_attn is None:
        return attn.mean(0)
    seg_attn = seg_attn.detach().float().reshape(attn.shape[-2:])
    difference = (seg_attn - attn).flatten(1).sum(1)
    keep = (difference <= difference.mean()).float().reshape(-1, 1, 1)
    return (keep * attn).sum(0) / (keep.sum(0) + 1e-5) * seg_attn


def refine_with_affinity(class_maps: Tensor, attention: Tensor, classes: Sequence[int],
                         grid: tuple[int, int], layers: int = AFFINITY_LAYERS,
                         threshold: float = BOX_THRESHOLD,
                         seg_attn: Tensor | None = None) -> Tensor:
    """(len(classes), h, w) class maps propagated by the patch attention.

    Args:
        class_maps: (h*w, K) patch-class maps of one image (feature surgery, patches only).
        attention: (L, 1 + h*w, 1 + h*w) per-block attention of that image.
        classes: the indices (into K) of the classes present.
        grid: (h, w).
        seg_attn: optional (h*w, h*w) segmenter affinity (:func:`refinement_affinity`).
    """
    trans = transition_matrix(refinement_affinity(attention, layers, seg_attn))
    refined = []
    for cls in classes:
        score_map = class_maps[:, cls].float().reshape(grid)
        mask = torch.zeros(grid, device=trans.device)
        for x0, y0, x1, y1 in score_boxes(score_map.cpu().numpy(), threshold):
            mask[y0:y1, x0:x1] = 1
        refined.append((trans * mask.reshape(1, -1)) @ score_map.reshape(-1, 1))
    return torch.stack([r.reshape(grid) for r in refined])
