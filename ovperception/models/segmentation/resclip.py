"""ResCLIP (Yang et al., CVPR 2025): a plug-in on the SCLIP / NACLIP / ClearCLIP dense modes.

The wrapped ``OpenCLIPBackbone``'s ``dense_mode`` gives the last-block attention
(:func:`~ovperception.models.clip.dense_attn.mode_attention_weights`, with the mode's own
residual/FFN choice); ResCLIP changes its weights ``A`` in two ways, per window:

* **RCS** (residual cross-correlation self-attention): ``R`` = mean of the ordinary
  ``softmax(q k^T s)`` maps of the middle blocks ``rcs_layers``;
  ``A <- tau_r ((1 - lambda_r) A + lambda_r R)``.
* **SFR** (semantic feedback refinement): a first pass (RCS only) is matched with the
  vocabulary's per-name text embeddings, resized to the window, refined by PAMR
  (10 steps, dilations 8 and 16) and turned into per-name probabilities
  ``softmax(logit_scale * cos)``; each patch takes the most frequent name of its pixels (pixels
  below ``sfr_threshold`` count as name 0). ``F_ij`` = 1 where patches i and j share that name,
  decayed by ``exp(-d_ij / max d)`` (Chebyshev distance ``d``) where the straight path from i
  towards j leaves the name (``delete_same_entity``), blurred along each row with a 1-D
  Gaussian (std = the NACLIP neighbourhood std), clipped at 0 and normalised per row; the class
  token's row and column are 0. ``F / max F`` (rounded to float16, as the official code does)
  is mixed into the mode's logits before their softmax:
  ``logits <- tau_f ((1 - lambda_f) logits + lambda_f F)``.

The features therefore depend on the vocabulary (``text_conditioned``): ``OVModel`` computes
them per image and vocabulary when decoding.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (DENSE_MODES, attention_logits, block_qkv,
                                                 mode_attention_weights,
                                                 modified_block_forward, tokens_to_map)
from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.models.refiners.pamr import pamr
from ovperception.registry import MODELS

RESCLIP_MODES = ('sclip', 'naclip', 'clearclip', 'vanilla')
#: Start patches per chunk of the straight-path check (bounds its memory).
_PATH_CHUNK = 64


def mix(weights: Tensor, other: Tensor, tau: float, lam: float) -> Tensor:
    """``tau * ((1 - lam) * weights + lam * other)``."""
    return tau * ((1 - lam) * weights + lam * other)


def patch_names(probs: Tensor, threshold: float, patch: int) -> Tensor:
    """Most frequent name per patch.

    Args:
        probs: (N, H, W) per-name probabilities of one window.
        threshold: pixels whose top probability is below it count as name 0.
        patch: patch size in pixels.

    Returns:
        (H // patch, W // patch) long name indices (``torch.mode``: ties give the smallest).
    """
    top, names = probs.max(dim=0)
    names = names.masked_fill(top < threshold, 0)
    blocks = names.unfold(0, patch, patch).unfold(1, patch, patch)
    return torch.mode(blocks.reshape(blocks.shape[0], blocks.shape[1], -1), dim=-1)[0]


def straight_paths_stay(grid_names: Tensor) -> tuple[Tensor, Tensor]:
    """For every pair of patches (i, j): does the rounded straight walk from i keep i's name?

    As the official check: all pairs share one step count ``S = max_ij d_ij`` (``d`` the
    Chebyshev distance); step ``t`` of pair (i, j) is at ``round(p_i + (p_j - p_i) t / S)``
    (round half to even) and only steps ``t <= d_ij`` are checked.

    Args:
        grid_names: (h, w) name index per patch.

    Returns:
        ``(stays (P, P) bool, distance (P, P) long)`` with P = h * w, row-major.
    """
    height, width = grid_names.shape
    index = torch.arange(height * width, device=grid_names.device)
    coords = torch.stack([index // width, index % width], dim=-1)  # (P, 2)
    distance = (coords[:, None] - coords[None]).abs().amax(dim=-1)  # (P, P)
    max_steps = int(distance.max())
    t = torch.linspace(0, 1, steps=max_steps + 1, device=grid_names.device)[None, :, None]
    steps = torch.arange(max_steps + 1, device=grid_names.device)
    stays = torch.empty_like(distance, dtype=torch.bool)
    for start in range(0, len(index), _PATH_CHUNK):
        rows = slice(start, start + _PATH_CHUNK)
        begin = coords[rows, None, :].expand(-1, len(index), -1).reshape(-1, 2)
        end = coords[None, :, :].expand(begin.shape[0] // len(index), -1, -1).reshape(-1, 2)
        walk = (begin[:, None] * (1 - t) + end[:, None] * t).round().long()  # (n, S+1, 2)
        checked = steps[None] <= distance[rows].reshape(-1, 1)
        same = grid_names[walk[..., 0], walk[..., 1]] == grid_names[begin[:, 0], begin[:, 1]][:, None]
        stays[rows] = (same | ~checked).all(dim=1).view(-1, len(index))
    return stays, distance


def semantic_feedback(grid_names: Tensor, gaussian_std: float, delete_same_entity: bool = True,
                      num_prefix: int = 1) -> Tensor:
    """ResCLIP's feedback attention ``F`` from the per-patch names of one window.

    Args:
        grid_names: (h, w) name index per patch.
        gaussian_std: std of the 1-D Gaussian blurring each row (in flattened patches).
        delete_same_entity: decay pairs whose straight path leaves the name.
        num_prefix: class-token rows/columns (zero) before the patches.

    Returns:
        (num_prefix + h*w, num_prefix + h*w) float32, rows of the patch block sum to ~1.
    """
    names = grid_names.flatten()
    count = names.numel()
    same = (names[:, None] == names[None, :]).float()
    same.fill_diagonal_(1.0)
    if delete_same_entity:
        stays, distance = straight_paths_stay(grid_names)
        max_steps = distance.max().clamp(min=1)
        same = torch.where(stays, same, same * torch.exp(-distance / max_steps))
    size = min(count, int(6 * gaussian_std + 1))
    size = size if size % 2 == 1 else size + 1
    offsets = torch.arange(size, device=same.device) - size // 2
    kernel = torch.exp(-(offsets ** 2) / (2 * gaussian_std ** 2))
    kernel = kernel / kernel.sum()
    blurred = F.relu(F.conv1d(same[:, None], kernel.view(1, 1, -1), padding=size // 2)[:, 0])
    blurred = blurred / (blurred.sum(dim=1, keepdim=True) + 1e-8)
    return F.pad(blurred, (num_prefix, 0, num_prefix, 0))


@MODELS.register_module()
class ResCLIPBackbone(CLIPWrapperBackbone):
    """ResCLIP's RCS + SFR on top of a CLIP dense mode (see the module docstring).

    Args:
        clip: an ``OpenCLIPBackbone`` ViT or its config; its ``dense_mode`` (``'naclip'`` in the
            paper's main results, ``'sclip'``, ``'clearclip'``) is the attention extended, its
            ``naclip_gaussian_std`` also the SFR blur's std.
        rcs_layers: ``(start, stop)``: blocks whose attention maps are averaged (official 5..8).
        rcs_weights: ``(tau_r, lambda_r)``; None disables RCS.
        sfr_weights: ``(tau_f, lambda_f)``; None disables SFR (and the first pass).
        sfr_threshold: per-dataset ``temp_thd`` of the first pass' probabilities.
        sfr_logit_scale: scale of the first pass' softmax (the official segmentor's
            ``logit_scale``, 40 in every released config).
        sfr_pamr: ``dict(num_iter, dilations)`` of the first pass' PAMR, or None.
        delete_same_entity: decay feedback between patches not connected by their name.
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).
    """

    text_conditioned = True

    def __init__(self, clip: nn.Module | dict, *, rcs_layers: tuple[int, int] = (5, 9),
                 rcs_weights: Sequence[float] | None = (2.0, 0.3),
                 sfr_weights: Sequence[float] | None = (2.2, 0.7), sfr_threshold: float = 0.5,
                 sfr_logit_scale: float = 40.0,
                 sfr_pamr: dict | None = None, delete_same_entity: bool = True,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        super().__init__(clip, pretrained, method='ResCLIP')
        if self.clip.dense_mode not in RESCLIP_MODES:
            raise ValueError(f'ResCLIP extends the dense modes {RESCLIP_MODES}; the CLIP config '
                             f'has dense_mode={self.clip.dense_mode!r}')
        depth = len(self.clip.visual.transformer.resblocks)
        start, stop = (int(v) for v in rcs_layers)
        if not 0 <= start < stop <= depth - 1:
            raise ValueError(f'ResCLIP rcs_layers={tuple(rcs_layers)}: need 0 <= start < stop <= '
                             f'{depth - 1} for this {depth}-block ViT')
        for name, pair in (('rcs_weights', rcs_weights), ('sfr_weights', sfr_weights)):
            if pair is not None and len(pair) != 2:
                raise ValueError(f'ResCLIP {name} must be (tau, lambda) or None, got {pair!r}')
        self.rcs_layers = (start, stop)
        self.rcs_weights = None if rcs_weights is None else tuple(float(v) for v in rcs_weights)
        self.sfr_weights = None if sfr_weights is None else tuple(float(v) for v in sfr_weights)
        self.sfr_threshold, self.sfr_logit_scale = float(sfr_threshold), float(sfr_logit_scale)
        self.sfr_pamr = dict(num_iter=10, dilations=(8, 16)) if sfr_pamr is None else \
            dict(sfr_pamr)
        self.delete_same_entity = bool(delete_same_entity)
        self.patch_size = self.clip.patch_size

    def residual_attention(self, states: list[Tensor]) -> Tensor:
        """RCS map: mean ``softmax(q k^T s)`` of blocks ``rcs_layers``, (B, heads, T, T)."""
        blocks = self.clip.visual.transformer.resblocks
        maps = []
        for index in range(*self.rcs_layers):
            q, k, _ = block_qkv(blocks[index], states[index])
            maps.append(attention_logits(q, k).softmax(dim=-1))
        return torch.stack(maps).mean(dim=0)

    def _last_block(self, x: Tensor, grid: tuple[int, int], residual: Tensor | None,
                    feedback: Tensor | None) -> Tensor:
        """The dense mode's last block with RCS / SFR: (B, T, D) -> (B, T, D)."""
        adjust = None
        if feedback is not None:
            tau, lam = self.sfr_weights
            adjust = lambda logits: mix(logits, feedback[:, None].to(logits.dtype), tau, lam)  # noqa: E731

        def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
            weights = mode_attention_weights(self.clip.dense_mode, q, k, grid,
                                             self.clip.naclip_gaussian_std, adjust_logits=adjust)
            if residual is not None:
                weights = mix(weights, residual.to(weights.dtype), *self.rcs_weights)
            return weights @ v

        return modified_block_forward(self.clip.visual.transformer.resblocks[-1], x, attention,
                                      DENSE_MODES[self.clip.dense_mode].keep_residual_ffn)

    def feedback_attention(self, images: Tensor, tokens: Tensor, grid: tuple[int, int],
                           text: TextEmbeddings) -> Tensor:
        """SFR map ``F / max F`` (float16-rounded) of each window, (B, T, T).

        Args:
            images: (B, 3, H, W) the normalised windows (PAMR's guide).
            tokens: (B, T, D) first-pass tokens leaving the last block.
            text: the vocabulary; its per-name embeddings (N, C) score the first pass.
        """
        feats = F.normalize(self.clip.project_patch_tokens(tokens_to_map(tokens[:, 1:], grid)),
                            dim=1)
        cosine = torch.einsum('bchw,nc->bnhw', feats, text.embeddings.to(feats))
        cosine = F.interpolate(cosine, size=images.shape[-2:], mode='bilinear',
                               align_corners=False)
        if self.sfr_pamr.get('num_iter', 0) > 0:
            cosine = pamr(images.to(cosine.dtype), cosine, **self.sfr_pamr)
        probs = (cosine * self.sfr_logit_scale).softmax(dim=1)
        maps = []
        for window in probs:
            names = patch_names(window, self.sfr_threshold, self.patch_size)
            feedback = semantic_feedback(names, self.clip.naclip_gaussian_std,
                                         self.delete_same_entity)
            maps.append((feedback / feedback.max()).half().float())
        return torch.stack(maps)

    def dense_features(self, images: Tensor, text: TextEmbeddings | None = None) -> Tensor:
        """(B, 3, H, W) CLIP-normalised windows -> (B, C, h, w), not normalised.

        Raises:
            ValueError: SFR is on and no vocabulary is given.
        """
        if text is None and self.sfr_weights is not None:
            raise ValueError('ResCLIP features depend on the vocabulary (semantic feedback): '
                             'pass text=, or run it through OVModel')
        with torch.no_grad():
            states, grid = self.clip.vit_hidden_states(images)
            residual = self.residual_attention(states) if self.rcs_weights is not None else None
            feedback = None
            if self.sfr_weights is not None:
                first = self._last_block(states[-1], grid, residual, None)
                feedback = self.feedback_attention(images, first, grid, text)
            x = self._last_block(states[-1], grid, residual, feedback)
            return self.clip.project_patch_tokens(tokens_to_map(x[:, 1:], grid))
