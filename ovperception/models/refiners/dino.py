"""Frozen DINO / DINOv2 ViT encoders built from timm: the ONLY module importing timm for DINO.

``DINOEncoder`` maps images to dense patch features (and, on request, the last block's
queries / keys / values, which ProxyCLIP and the FOUND-style saliency of CLIP-DINOiser use).
Any input size works: the crop is padded to a multiple of the patch size and the position
embedding is interpolated (timm ``dynamic_img_size``).

Weights:

* ``pretrained=None``: random init (tests, smoke runs, cost measurements);
* a local file: timm's own state dict, or the official DINO (``dino_vitbase16_pretrain.pth``,
  a full training checkpoint with ``teacher``/``student``) or DINOv2
  (``dinov2_vitb14_pretrain.pth``) layouts, converted to timm keys, then checked key by key;
* a tag (``'dino'``, ``'lvd142m'``): looked up in the local Hugging Face cache
  (``timm/<arch>.<tag>``) and the torch-hub checkpoint folder (official file names), else
  downloaded into the Hugging Face cache on first use. Offline -> :class:`WeightsNotFoundError`
  naming the file and the fix, within about 1.5 s.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import timm
import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (POS_EMBED_RESIZE_MODES, interpolate_pos_embed,
                                                 pad_to_multiple, tokens_to_map)
from ovperception.models.clip.weights import (WeightsNotFoundError, check_state_dict,
                                              file_identity, looks_like_path, read_checkpoint,
                                              unwrap_state_dict)
from ovperception.models.data_preprocessor import IMAGENET_MEAN, IMAGENET_STD
from ovperception.registry import MODELS
from ovperception.utils.download import (cached_hub_file, hub_download, hub_endpoint,
                                         offline_reason)


#: timm architecture -> official torch-hub checkpoint file name (DINO v1 / DINOv2 releases).
OFFICIAL_FILES = {
    'vit_small_patch16_224': 'dino_deitsmall16_pretrain.pth',
    'vit_small_patch8_224': 'dino_deitsmall8_pretrain.pth',
    'vit_base_patch16_224': 'dino_vitbase16_pretrain.pth',
    'vit_base_patch8_224': 'dino_vitbase8_pretrain.pth',
    'vit_small_patch14_dinov2': 'dinov2_vits14_pretrain.pth',
    'vit_base_patch14_dinov2': 'dinov2_vitb14_pretrain.pth',
    'vit_base_patch14_reg4_dinov2': 'dinov2_vitb14_reg4_pretrain.pth',
    'vit_large_patch14_reg4_dinov2': 'dinov2_vitl14_reg4_pretrain.pth',
}
#: the timm tag holding DINO weights of each architecture family.
DEFAULT_TAGS = {'dinov2': 'lvd142m', 'dino': 'dino'}
HF_FILENAMES = ('model.safetensors', 'pytorch_model.bin')


@dataclass
class DINOOutput:
    """What :meth:`DINOEncoder.forward` returns.

    Attributes:
        patches: (B, C, h, w) final-norm patch tokens (prefix tokens dropped).
        grid: (h, w) patch grid of the (padded) input.
        q, k, v: last block's queries / keys / values, (B, heads, P + h*w, head_dim) with the
            P prefix tokens (class token, registers) first; None unless ``with_qkv``.
        num_prefix_tokens: P.
    """

    patches: Tensor
    grid: tuple[int, int]
    q: Tensor | None = None
    k: Tensor | None = None
    v: Tensor | None = None
    num_prefix_tokens: int = 1

    def qkv_maps(self, which: str) -> Tensor:
        """Last-block ``'q'``/``'k'``/``'v'`` of the patches as a (B, heads*head_dim, h, w) map."""
        tokens = getattr(self, which)
        if tokens is None:
            raise ValueError(f'{which!r} was not computed: call the encoder with with_qkv=True')
        b, heads, _, dim = tokens.shape
        patches = tokens[:, :, self.num_prefix_tokens:].transpose(1, 2).reshape(b, -1, heads * dim)
        return tokens_to_map(patches, self.grid)


def renormalize(images: Tensor, mean: Sequence[float] | None, std: Sequence[float] | None,
                target_mean: Sequence[float] = IMAGENET_MEAN,
                target_std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """Images normalised with (mean, std) -> normalised with (target_mean, target_std).

    Args:
        images: (B, 3, H, W); normalised with ``mean``/``std`` (0..255 scale), or 0..255 RGB
            when both are None.
    """
    def column(values: Sequence[float]) -> Tensor:
        return torch.as_tensor(values, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)

    if (mean is None) != (std is None):
        raise ValueError('give both mean and std (CLIP-normalised input) or neither (0..255 RGB)')
    rgb = images if mean is None else images * column(std) + column(mean)
    return (rgb - column(target_mean)) / column(target_std)


def convert_official_dino(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Official DINO / DINOv2 key layouts -> timm ViT keys (a timm state dict passes unchanged).

    * DINO training checkpoints: the ``teacher`` weights (``backbone.`` prefix), heads dropped;
    * DINOv2: ``mask_token`` dropped, ``register_tokens`` -> ``reg_token``, chunked blocks
      ``blocks.<chunk>.<i>.`` -> ``blocks.<i>.``; with registers (timm's ``no_embed_class``
      layout) the class row of ``pos_embed`` is added to ``cls_token`` and dropped, which
      gives the same tokens as the official model.
    """
    if 'teacher' in state and isinstance(state['teacher'], Mapping):
        state = state['teacher']
    state = {k: v for k, v in state.items() if isinstance(v, Tensor)}
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key == 'mask_token' or key.startswith('head.'):
            continue
        key = 'reg_token' if key == 'register_tokens' else key
        key = re.sub(r'^blocks\.\d+\.(\d+)\.', r'blocks.\1.', key)
        out[key] = value
    if 'reg_token' in out and 'pos_embed' in out and 'cls_token' in out \
            and 'register_tokens' in state:
        out['cls_token'] = out['cls_token'] + out['pos_embed'][:, :1]
        out['pos_embed'] = out['pos_embed'][:, 1:]
    return out


def read_dino_state_dict(path: str) -> dict[str, Tensor]:
    """A DINO weights file (timm or official layout) as a timm state dict."""
    if not os.path.isfile(path):
        raise WeightsNotFoundError(f'DINO weights file not found: {path!r}')
    raw = read_checkpoint(path)
    if isinstance(raw, Mapping) and isinstance(raw.get('teacher'), Mapping):
        return convert_official_dino(raw)
    return convert_official_dino(unwrap_state_dict(raw, source=path))


def download_command(arch: str, tag: str) -> str:
    """The shell command that fetches ``arch.tag`` into the local cache."""
    return f'python tools/download_weights.py --dino {arch}.{tag}'


def find_cached_dino(arch: str, tag: str, cache_dir: str | None = None
                     ) -> tuple[str | None, list[str]]:
    """Local file of ``timm/<arch>.<tag>`` (HF cache) or the official torch-hub file.

    Returns:
        (path or None, the places searched). Never downloads.
    """
    from huggingface_hub import constants
    repo_id = f'timm/{arch}.{tag}'
    looked = [os.path.join(cache_dir or constants.HF_HUB_CACHE,
                           'models--' + repo_id.replace('/', '--'))]
    for name in HF_FILENAMES:
        path = cached_hub_file(repo_id, name, cache_dir)
        if path is not None:
            return path, looked
    if arch in OFFICIAL_FILES:
        path = os.path.join(torch.hub.get_dir(), 'checkpoints', OFFICIAL_FILES[arch])
        looked.append(path)
        if os.path.isfile(path):
            return path, looked
    return None, looked


def download_dino_weights(arch: str, tag: str, cache_dir: str | None = None) -> str:
    """Local file of ``timm/<arch>.<tag>``: cached, else downloaded into the HF cache with a
    progress bar.

    Raises:
        WeightsNotFoundError: not cached and no download possible now (``HF_HUB_OFFLINE=1``,
            ``--offline``, no route; decided within about 1.5 s), with the fix.
    """
    path, looked = find_cached_dino(arch, tag, cache_dir)
    if path is not None:
        return path
    reason = offline_reason(hub_endpoint())
    if reason is not None:
        raise WeightsNotFoundError(
            f'DINO weights {arch}.{tag} are not in the local cache (looked in: '
            f'{", ".join(looked)}), and this environment cannot download them ({reason}). Fix: '
            f'connect to the internet and run again, or on a machine with internet run '
            f'`{download_command(arch, tag)}` (then copy the cache here), or pass a local file '
            f'(official {OFFICIAL_FILES.get(arch, "DINO checkpoint")} or a timm state dict) as '
            'pretrained=/path/to/file.')
    print_log(f'downloading DINO weights timm/{arch}.{tag}', logger='current')
    return hub_download(f'timm/{arch}.{tag}', HF_FILENAMES, cache_dir)


@MODELS.register_module()
class DINOEncoder(nn.Module):
    """A frozen DINO / DINOv2 ViT (timm architecture, ``pretrained=False`` always).

    Args:
        arch: timm ViT name, e.g. ``'vit_base_patch16_224'`` / ``'vit_base_patch8_224'`` (DINO)
            or ``'vit_base_patch14_dinov2'`` (DINOv2).
        pretrained: None (random), a local file, or a tag (``'dino'`` for DINO,
            ``'lvd142m'`` for DINOv2; ``'default'`` picks it): from the local caches, else
            downloaded into the Hugging Face cache on first use.
        model_kwargs: overrides for ``timm.create_model`` (tiny test models: ``embed_dim``,
            ``depth``, ``num_heads``, ``img_size``).
        cache_dir: Hugging Face hub cache (default: its default).
        pos_embed_resize: how the position embedding follows the input grid: ``'timm'``
            (timm's antialiased bicubic to the exact size) or one of
            :data:`~ovperception.models.clip.dense_attn.POS_EMBED_RESIZE_MODES`
            (``'bicubic_offset'`` is the official DINO ``interpolate_pos_encoding``, the
            +0.1 rule that ProxyCLIP and CLIP-DINOiser run through torch-hub DINO).
    """

    def __init__(self, arch: str = 'vit_base_patch16_224', pretrained: str | None = None, *,
                 model_kwargs: dict | None = None, cache_dir: str | None = None,
                 pos_embed_resize: str = 'timm') -> None:
        super().__init__()
        if pos_embed_resize != 'timm' and pos_embed_resize not in POS_EMBED_RESIZE_MODES:
            raise ValueError(f"pos_embed_resize must be 'timm' or one of "
                             f'{POS_EMBED_RESIZE_MODES}, got {pos_embed_resize!r}')
        self.arch = arch
        self.pos_embed_resize = pos_embed_resize
        path = self._resolve_weights(pretrained, cache_dir)
        kwargs = dict(num_classes=0, dynamic_img_size=True, **(model_kwargs or {}))
        self.model = timm.create_model(arch, pretrained=False, **kwargs)
        if not hasattr(self.model, 'blocks') or not hasattr(self.model, 'patch_embed'):
            raise ValueError(f'{arch!r} is not a timm VisionTransformer')
        if pos_embed_resize != 'timm' and not self.model.no_embed_class \
                and self.model.reg_token is not None:
            raise ValueError(f'pos_embed_resize={pos_embed_resize!r} needs registers outside the '
                             f'position embedding (timm no_embed_class, as DINOv2; {arch!r})')
        if path is not None:
            state = read_dino_state_dict(path)
            check_state_dict(self.model.state_dict(), state, arch, path)
            self.model.load_state_dict(state, strict=True)
        print_log(f'DINOEncoder {arch}: weights {path or "random init (no pretrained weights)"}',
                  logger='current', level=logging.INFO if path else logging.WARNING)
        self.weights_id = f'{arch}:random:{id(self)}' if path is None else \
            f'{arch}:file:{file_identity(path)}'
        self.patch_size = int(self.model.patch_embed.patch_size[0])
        self.embed_dim = int(self.model.embed_dim)
        self.num_heads = int(self.model.blocks[-1].attn.num_heads)
        self.num_prefix_tokens = int(self.model.num_prefix_tokens)
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.eval()

    def _resolve_weights(self, pretrained: str | None, cache_dir: str | None) -> str | None:
        if not pretrained:
            return None
        if os.path.isfile(pretrained):
            return pretrained
        if looks_like_path(pretrained):
            raise WeightsNotFoundError(
                f'DINO weights file not found: {pretrained!r}. Get the official file '
                f'({OFFICIAL_FILES.get(self.arch, "see docs/refiners-dino.md")}) or run '
                f'`{download_command(self.arch, self._default_tag())}` on a machine with internet.')
        tag = self._default_tag() if pretrained == 'default' else pretrained
        return download_dino_weights(self.arch, tag, cache_dir)

    def _default_tag(self) -> str:
        return DEFAULT_TAGS['dinov2' if 'dinov2' in self.arch else 'dino']

    def train(self, mode: bool = True) -> DINOEncoder:
        """Always in eval mode (frozen)."""
        return super().train(False)

    def forward(self, images: Tensor, mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None, *, with_qkv: bool = False,
                imagenet_normalized: bool = False) -> DINOOutput:
        """Dense DINO features of (B, 3, H, W) images.

        Args:
            images: normalised with ``mean``/``std`` (0..255 scale, e.g. CLIP's), or 0..255
                RGB when both are None; re-normalised here with ImageNet statistics.
            with_qkv: also return the last block's queries, keys and values.
            imagenet_normalized: ``images`` are already normalised with the ImageNet
                statistics (0..1 scale, torchvision's ``Normalize``); ``mean``/``std`` unused.

        Returns:
            :class:`DINOOutput` with (B, C, ceil(H/p), ceil(W/p)) patch features.
        """
        model = self.model
        x = images.float() if imagenet_normalized else renormalize(images.float(), mean, std)
        x = pad_to_multiple(x, (self.patch_size, self.patch_size))
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        with torch.no_grad():
            x = model.norm_pre(model.patch_drop(self._embed(x)))
            for block in model.blocks[:-1]:
                x = block(x)
            last = model.blocks[-1]
            q = k = v = None
            if with_qkv:
                q, k, v = self._last_qkv(last, x)
            x = model.norm(last(x))
        patches = tokens_to_map(x[:, self.num_prefix_tokens:], grid)
        return DINOOutput(patches, grid, q, k, v, self.num_prefix_tokens)

    def _embed(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, P + h*w, D) tokens with (resized) position embeddings."""
        model = self.model
        x = model.patch_embed(images)
        if self.pos_embed_resize == 'timm':
            return model._pos_embed(x)
        b, h, w, dim = x.shape  # dynamic_img_size: channels-last grid
        if model.no_embed_class:  # DINOv2 (with registers): the embedding covers the patches only
            pos = interpolate_pos_embed(model.pos_embed[0], tuple(model.patch_embed.grid_size),
                                        (h, w), 0, self.pos_embed_resize)
            prefix = [token.expand(b, -1, -1) for token in (model.cls_token, model.reg_token)
                      if token is not None]
            x = x.reshape(b, h * w, dim) + pos[None].to(x.dtype)
            return model.pos_drop(torch.cat([*prefix, x], dim=1))
        pos = interpolate_pos_embed(model.pos_embed[0], tuple(model.patch_embed.grid_size),
                                    (h, w), self.num_prefix_tokens, self.pos_embed_resize)
        x = torch.cat([model.cls_token.expand(b, -1, -1), x.reshape(b, h * w, dim)], dim=1)
        return model.pos_drop(x + pos[None].to(x.dtype))

    def _last_qkv(self, block: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, heads, T, head_dim) q, k, v of ``block``'s attention on tokens x (B, T, D)."""
        attn = block.attn
        b, t, _ = x.shape
        qkv = attn.qkv(block.norm1(x)).reshape(b, t, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        return attn.q_norm(q), attn.k_norm(k), v
