"""CLIP-DINOiser (Wysoczanska et al., ECCV 2024): MaskCLIP features pooled with DINO-like
patch correlations predicted from CLIP by a light convolution, plus a FOUND-style background
filter. Written from the paper's description.

Inference, for the N patches of a crop with MaskCLIP features ``f`` and CLIP intermediate
features ``z`` (``ln_2`` input normalisation of block ``feature_layer``, default -3):

    e_p     = obj_proj(z)_p / |obj_proj(z)_p|          (3x3 conv -> 256-d, replicate padding)
    c_pq    = e_p . e_q,  c_pq = 0 where c_pq < gamma  (gamma = 0.2)
    f'_p    = sum_q c_pq f_q / (sum_q c_pq + 1e-6)      (weighted pooling)
    s_p     = sigmoid(saliency(z / |z|)_p)              (1x1 conv: foreground probability)

Background filter (VOC / COCO-Object in the paper): a pixel whose top class probability
(softmax of ``logit_scale * cosine``) is below ``delta`` (0.99) and that is not salient
(``s <= 0.5``) becomes background (see :class:`CLIPDINOiserHead`).

Training (images only; targets from a frozen DINO ViT-B/16 computed on the fly):

    loss_corr     = BCEWithLogits(max(c, 0), [DINO value correlation >= gamma])
    loss_saliency = BCEWithLogits(saliency(z / |z|), FOUND-style foreground mask)

FOUND-style mask (FOUND itself is a trained decoder, not used here): the background seed is
the patch the DINO class token attends to least (last block, mean over heads); background =
patches whose last-block key is cosine-similar to the seed's (>= ``found_tau``); foreground =
the rest.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import tokens_to_map
from ovperception.models.clip.weights import (WeightsNotFoundError, check_state_dict,
                                              read_checkpoint, unwrap_state_dict)
from ovperception.models.ov_model import OVModel
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.models.refiners.dino import DINOEncoder
from ovperception.registry import MODELS


# ------------------------------------------------------------------ pure functions
def patch_correlations(feats: Tensor) -> Tensor:
    """(B, D, h, w) -> (B, h*w, h*w) cosine similarities between all patch pairs."""
    flat = F.normalize(feats.flatten(2).float(), dim=1)
    return flat.transpose(1, 2) @ flat


def weighted_pool(feats: Tensor, correlations: Tensor, gamma: float | None = 0.2,
                  eps: float = 1e-6) -> Tensor:
    """CLIP-DINOiser pooling ``f'_p = sum_q c_pq f_q / (sum_q c_pq + eps)``.

    Args:
        feats: (B, C, h, w) dense features.
        correlations: (B, h*w, h*w) patch correlations; entries below ``gamma`` count as 0.

    Returns:
        (B, C, h, w) pooled features.
    """
    weights = correlations.float()
    if gamma is not None:
        weights = weights.masked_fill(weights < gamma, 0.0)
    flat = feats.flatten(2).float()
    pooled = torch.einsum('bpq,bcq->bcp', weights, flat) / (weights.sum(-1)[:, None] + eps)
    return pooled.reshape(feats.shape).to(feats.dtype)


def found_foreground(q: Tensor, k: Tensor, grid: tuple[int, int], num_prefix: int = 1,
                     tau: float = 0.3) -> Tensor:
    """FOUND-style unsupervised foreground mask from a ViT's last-block queries and keys.

    Args:
        q, k: (B, heads, P + h*w, head_dim) with the class token at index 0.
        grid: (h, w).
        num_prefix: P (class token + registers).
        tau: cosine similarity to the background seed above which a patch is background.

    Returns:
        (B, 1, h, w) float mask, 1 = foreground.
    """
    scale = q.shape[-1] ** -0.5
    cls_attn = torch.softmax((q[:, :, :1] @ k.transpose(-2, -1)) * scale, dim=-1)
    patch_attn = cls_attn[:, :, 0, num_prefix:].mean(dim=1)                 # (B, h*w)
    seed = patch_attn.argmin(dim=-1)                                        # (B,)
    keys = F.normalize(k[:, :, num_prefix:].transpose(1, 2).flatten(2).float(), dim=-1)
    seed_key = keys[torch.arange(keys.shape[0], device=keys.device), seed]  # (B, D)
    similarity = torch.einsum('bnd,bd->bn', keys, seed_key)
    foreground = (similarity < tau).float()
    return foreground.reshape(-1, 1, *grid)


@contextlib.contextmanager
def capture_output(module: nn.Module, batch_first: bool = True) -> Iterator[dict[str, Tensor]]:
    """Record ``module``'s output (as batch-first tokens) in the yielded dict under ``'out'``."""
    store: dict[str, Tensor] = {}

    def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
        store['out'] = output if batch_first else output.transpose(0, 1)

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def pad_black(images: Tensor, multiple: int, mean: Sequence[float],
              std: Sequence[float]) -> Tensor:
    """(B, 3, H, W) images normalised with ``mean``/``std`` (0..255 scale), padded bottom/right
    to multiples of ``multiple`` with black pixels (0 before normalisation)."""
    pad_h, pad_w = -images.shape[-2] % multiple, -images.shape[-1] % multiple
    if not (pad_h or pad_w):
        return images
    black = [-m / s for m, s in zip(mean, std)]
    out = images.new_empty((*images.shape[:2], images.shape[-2] + pad_h,
                            images.shape[-1] + pad_w))
    out[:] = torch.tensor(black, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    out[..., :images.shape[-2], :images.shape[-1]] = images
    return out


# ------------------------------------------------------------------ backbone
PADDINGS = ('zero', 'black_stretch')


@MODELS.register_module()
class CLIPDINOiserBackbone(CLIPWrapperBackbone):
    """MaskCLIP dense features refined by CLIP-DINOiser's two light convolutions.

    Follows the backbone contract; only ``obj_proj`` and ``saliency`` are trainable (the CLIP
    towers stay frozen). With ``append_saliency`` the dense output carries one more channel,
    the foreground probability, which :class:`CLIPDINOiserHead` reads.

    Args:
        clip: an ``OpenCLIPBackbone`` ViT (``dense_mode='maskclip'``) or its config.
        feature_layer: CLIP block whose ``ln_2`` output feeds the convolutions (paper: -3).
        proj_channels: width of the correlation embedding (paper: 256).
        kernel_size: kernel of ``obj_proj`` (paper: 3).
        gamma: correlation threshold of the pooling and of the DINO targets (paper: 0.2).
        append_saliency: add the foreground probability as channel C of ``dense_features``.
        found_tau: key-similarity threshold of the FOUND-style training masks.
        weights: None (untrained convolutions), or a local file holding them: the official
            release (``last.pt``: ``obj_proj.*``, ``bkg_decoder.*``), a bare state dict of
            ``obj_proj.*`` / ``saliency.*``, or an ovperception training checkpoint.
        padding: windows whose sides are not multiples of the patch size: ``'zero'`` (zeros
            after normalisation, i.e. the mean colour, bottom/right; the grid covers the padded
            window) or ``'black_stretch'`` (official: black pixels bottom/right, and the grid
            is stretched over the unpadded window when stitched, see :attr:`grid_placement`).
        pretrained: CLIP weights overriding the CLIP config's (``--weights``).
    """

    frozen = False  # its two convolutions are trained (CLIPDINOiserDistiller)

    def __init__(self, clip: nn.Module | dict, *, feature_layer: int = -3,
                 proj_channels: int = 256, kernel_size: int = 3, gamma: float = 0.2,
                 append_saliency: bool = False, found_tau: float = 0.3,
                 weights: str | None = None, padding: str = 'zero',
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        if padding not in PADDINGS:
            raise ValueError(f'padding must be one of {PADDINGS}, got {padding!r}')
        super().__init__(clip, pretrained, method='CLIP-DINOiser')
        self.padding = padding
        width = int(self.clip.visual.transformer.width)
        self.feature_layer = feature_layer
        self.gamma, self.found_tau = gamma, found_tau
        self.append_saliency = append_saliency
        self.obj_proj = nn.Conv2d(width, proj_channels, kernel_size, padding=kernel_size // 2,
                                  padding_mode='replicate')
        self.saliency = nn.Conv2d(width, 1, 1)
        self.patch_size = self.clip.patch_size
        if weights:
            self.load_convolutions(weights)

    def load_convolutions(self, path: str) -> None:
        """Strictly load ``obj_proj`` and ``saliency`` from ``path`` (see ``weights``)."""
        if not os.path.isfile(path):
            raise WeightsNotFoundError(
                f'CLIP-DINOiser weights file not found: {path!r}. Train them with `python '
                'tools/train.py configs/segmentation/clip_dinoiser_vitb16_imagenet_train_448.py` '
                '(then pass work_dirs/.../iter_6300.pth), or download the official '
                'checkpoints/last.pt of wysoczanska/clip_dinoiser (see docs/refiners-dino.md).')
        checkpoint = read_checkpoint(path)
        state = unwrap_state_dict(checkpoint.get('model_state_dict', checkpoint)
                                  if isinstance(checkpoint, dict) else checkpoint, source=path)
        own = ('obj_proj.', 'saliency.')
        renamed = {}
        for key, value in state.items():
            key = key.replace('bkg_decoder.', 'saliency.')
            key = key[len('backbone.'):] if key.startswith('backbone.') else key
            if key.startswith(own):
                renamed[key] = value
        expected = {k: v for k, v in self.state_dict().items() if k.startswith(own)}
        check_state_dict(expected, renamed, 'CLIP-DINOiser convolutions', path)
        self.load_state_dict(renamed, strict=False)

    @property
    def grid_placement(self) -> tuple[int | None, bool]:
        """(stride or None, centred) of each window's grid, read by ``OVModel`` when stitching:
        ``(patch, False)`` covers the padded window; ``(None, False)`` stretches the grid over
        the window (``padding='black_stretch'``, the official resize to the crop size)."""
        return (None, False) if self.padding == 'black_stretch' else (self.patch_size, False)

    def pad_black(self, images: Tensor) -> Tensor:
        """CLIP-normalised (B, 3, H, W) padded bottom/right to multiples of the patch size with
        black pixels (0 before normalisation), as the official ``make_input_divisible``."""
        return pad_black(images, int(self.clip.patch_size), self.clip.mean, self.clip.std)

    def clip_features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """One frozen CLIP pass: MaskCLIP features (B, C, h, w), intermediates (B, width, h, w)."""
        if self.padding == 'black_stretch':
            images = self.pad_black(images)
        blocks = self.clip.visual.transformer.resblocks
        batch_first = getattr(self.clip.visual.transformer, 'batch_first', True)
        with torch.no_grad(), capture_output(blocks[self.feature_layer].ln_2,
                                             batch_first) as store:
            feats = self.clip.dense_features(images)
        grid = (feats.shape[-2], feats.shape[-1])
        return feats, tokens_to_map(store['out'][:, 1:], grid)

    def predicted_correlations(self, intermediates: Tensor) -> Tensor:
        """(B, width, h, w) -> (B, h*w, h*w) cosine of the ``obj_proj`` embeddings."""
        return patch_correlations(self.obj_proj(intermediates))

    def saliency_logits(self, intermediates: Tensor) -> Tensor:
        """(B, width, h, w) -> (B, 1, h, w) foreground logits."""
        return self.saliency(F.normalize(intermediates, dim=1))

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) CLIP-normalised crops -> (B, C [+1], ceil(H/p), ceil(W/p))."""
        feats, inter = self.clip_features(images)
        pooled = weighted_pool(feats, self.predicted_correlations(inter), self.gamma)
        if not self.append_saliency:
            return pooled
        return torch.cat([pooled, torch.sigmoid(self.saliency_logits(inter))], dim=1)

    def distillation_loss(self, images: Tensor, teacher: DINOEncoder) -> dict[str, Tensor]:
        """Losses of the two convolutions against DINO targets computed on the fly.

        Args:
            images: (B, 3, H, W) CLIP-normalised training crops.
            teacher: frozen DINO encoder (paper: DINO ViT-B/16).
        """
        _, inter = self.clip_features(images)
        grid = inter.shape[-2:]
        with torch.no_grad():
            dino = teacher(images, self.clip.mean, self.clip.std, with_qkv=True)
            values = F.interpolate(dino.qkv_maps('v'), size=grid, mode='bilinear',
                                   align_corners=False)
            target_corr = (patch_correlations(values) >= self.gamma).float()
            foreground = found_foreground(dino.q, dino.k, dino.grid, dino.num_prefix_tokens,
                                          self.found_tau)
            target_saliency = (F.interpolate(foreground, size=grid, mode='bilinear',
                                             align_corners=False) > 0.5).float()
        predicted = self.predicted_correlations(inter).clamp(min=0.0)
        return dict(
            loss_corr=F.binary_cross_entropy_with_logits(predicted, target_corr),
            loss_saliency=F.binary_cross_entropy_with_logits(self.saliency_logits(inter),
                                                             target_saliency))


# ------------------------------------------------------------------ training model
@MODELS.register_module()
class CLIPDINOiserDistiller(OVModel):
    """``OVModel`` whose ``loss`` trains CLIP-DINOiser's convolutions on images alone.

    The teacher is kept outside the module tree: it is frozen, loaded from its own weights,
    never saved in checkpoints (so a trained checkpoint loads into a plain ``OVModel`` with the
    same backbone), and moved to the input's device on first use. Prediction works like
    ``OVModel`` (validation during training).

    Args:
        backbone: a :class:`CLIPDINOiserBackbone` (or config).
        head: a head (or config) used for validation / prediction.
        teacher: a :class:`DINOEncoder` (or config).
        **kwargs: ``OVModel`` options.
    """

    def __init__(self, backbone: nn.Module | dict, head: nn.Module | dict, *,
                 teacher: nn.Module | dict, **kwargs) -> None:
        super().__init__(backbone, head, **kwargs)
        if not hasattr(self.backbone, 'distillation_loss'):
            raise TypeError('CLIPDINOiserDistiller needs a backbone with distillation_loss '
                            f'(CLIPDINOiserBackbone), got {type(self.backbone).__name__}')
        self._teacher = (teacher if isinstance(teacher, nn.Module) else MODELS.build(teacher),)

    @property
    def teacher(self) -> nn.Module:
        """The frozen DINO teacher (not a registered submodule)."""
        return self._teacher[0]

    def loss(self, inputs: Tensor, data_samples: object = None) -> dict[str, Tensor]:
        """Distillation losses on the (B, 3, H, W) normalised batch; no labels or vocabulary."""
        teacher = self.teacher
        if next(teacher.parameters()).device != inputs.device:
            teacher.to(inputs.device)
        return self.backbone.distillation_loss(inputs, teacher)
