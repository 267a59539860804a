"""Frozen open_clip backbones with dense (per-location) features in the joint space.

The ONLY module of ovperception that imports ``open_clip``. Supports open_clip ViTs
(last-block attention variants from :mod:`.dense_attn`), ConvNeXt CLIPs (timm trunk,
head norm and projection per location) and ResNet CLIPs (attention-pool value path
as 1x1 projections). Constructors download missing weights into the standard caches
(never when offline) and never pick a device.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence

import open_clip
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from open_clip.convert import convert_state_dict
from open_clip.model import convert_to_custom_text_state_dict
from open_clip.modified_resnet import ModifiedResNet
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer
from torch import Tensor, nn

from ovperception.models.clip.dense_attn import (DENSE_MODES, GRID_REMAINDER_MODES,
                                                 attention_pool_any_grid, fit_to_patch_grid,
                                                 attention_pool_value_path,
                                                 block_output_projection, block_qkv,
                                                 POS_EMBED_RESIZE_MODES, check_dense_mode,
                                                 interpolate_pos_embed, mode_attention_fn, modified_block_forward,
                                                 pad_to_multiple, timm_dense_features,
                                                 timm_project_map, tokens_to_map)
from ovperception.models.clip.dense_attn import merge_heads
from ovperception.models.clip.convert import MODEL_PREFIX, convert_eva_clip, is_eva_clip_state
from ovperception.models.clip.eva import (eva_block_maps_and_dense, eva_decoupled_features,
                                          eva_dense_features, eva_image_embedding,
                                          is_eva_trunk)
from ovperception.models.clip.text_encoding import (encode_tokens_trimmed,
                                                    length_sorted_batches, pooled_positions,
                                                    trimmable_text_tower)
from ovperception.models.clip.weights import (WeightsNotFoundError, align_prefixes,
                                              check_state_dict, file_identity, find_cached_file,
                                              hf_weight_filenames, load_state_dict_file,
                                              looks_like_path, url_sha256,
                                              weights_not_found_message)
from ovperception.registry import MODELS
from ovperception.utils.download import (cached_hub_file, download_url, hub_download,
                                         hub_endpoint, offline_reason,
                                         release_unavailable_reason, release_url)

DenseAttentionFn = Callable[[Tensor, Tensor, Tensor, tuple[int, int]],
                            'Tensor | tuple[Tensor, tuple[int, int]]']
CNN_DENSE_MODES = ('vanilla', 'maskclip')
CNN_STRIDE = 32
MULTISCALE_NAMES = ('res2', 'res3', 'res4', 'res5')  # strides 4, 8, 16, 32
TEXT_CHUNK = 256
HF_HUB_PREFIX = 'hf-hub:'
HF_CONFIG_NAME = 'open_clip_config.json'


# ---------------------------------------------------------------- weights resolution
def list_pretrained_tags(model_name: str) -> list[str]:
    """open_clip pretrained tags available for ``model_name``."""
    return list(open_clip.list_pretrained_tags_by_model(model_name))


def pretrained_cfg(model_name: str, tag: str) -> dict:
    """open_clip's pretrained config of ``(model_name, tag)``; ValueError listing valid tags."""
    if not open_clip.pretrained.is_pretrained_cfg(model_name, tag):
        raise ValueError(f'unknown open_clip pretrained tag {tag!r} for model {model_name!r}; '
                         f'valid tags: {list_pretrained_tags(model_name)}')
    return dict(open_clip.get_pretrained_cfg(model_name, tag))


def find_cached_weights(model_name: str, tag: str,
                        cache_dir: str | None = None) -> tuple[str | None, list[str]]:
    """Look for a tag's weights in the local caches only: (path or None, places searched)."""
    return find_cached_file(pretrained_cfg(model_name, tag), cache_dir)


def download_pretrained_weights(model_name: str, tag: str, cache_dir: str | None = None) -> str:
    """Local path of a tag's weights: the cached file, else downloaded into the standard cache.

    Cached files are checked before use (a damaged one is removed and fetched again).
    Downloads go through the Hugging Face hub (``hf_hub`` tags:
    :func:`~ovperception.utils.hub_files.hub_download` into its cache, checked against the
    hub's ETag; ``HF_ENDPOINT`` is honoured) or, for URL-only tags, through
    :func:`~ovperception.utils.download.download_url` into ``cache_dir or ~/.cache/clip``
    (progress bar, atomic rename, SHA-256 of the release URL checked, ``OVP_RELEASE_MIRROR``
    honoured).

    Raises:
        WeightsNotFoundError: not cached and no download possible now (``HF_HUB_OFFLINE=1``,
            ``--offline``, or no route to the server; decided within about 1.5 s), with the fix.
        DownloadError: the server failed, stalled or dropped the transfer (one line, bounded
            by ``HF_HUB_ETAG_TIMEOUT`` / ``HF_HUB_DOWNLOAD_TIMEOUT``).
        ChecksumMismatchError: the downloaded bytes are not the published file.
    """
    cfg = pretrained_cfg(model_name, tag)
    path, looked = find_cached_weights(model_name, tag, cache_dir)
    if path is not None:
        return path
    if cfg.get('hf_hub'):
        repo_id, filename = os.path.split(cfg['hf_hub'])
        source = f'{hub_endpoint()}/{repo_id}'
        reason = offline_reason(source)
    elif cfg.get('url'):  # probes the mirror when one is set, as download_url fetches it
        repo_id, filename, source = '', '', release_url(cfg['url'])
        reason = release_unavailable_reason(cfg['url'])
    else:
        raise WeightsNotFoundError(weights_not_found_message(model_name, tag, looked))
    if reason is not None:
        raise WeightsNotFoundError(weights_not_found_message(model_name, tag, looked, reason))
    print_log(f'downloading the {model_name}:{tag} weights from {source}', logger='current')
    if repo_id:
        return hub_download(repo_id, hf_weight_filenames(filename), cache_dir)
    return download_url(cfg['url'], cache_dir or os.path.expanduser('~/.cache/clip'),
                        expected_sha256=url_sha256(cfg['url']))


def hub_model_files(repo_id: str, cache_dir: str | None = None) -> tuple[str, dict, str]:
    """``hf-hub:ORG/NAME`` models: (local folder holding ``open_clip_config.json``, its parsed
    content, weights file), from the HF cache or downloaded into it on first use.

    Raises:
        WeightsNotFoundError: not cached and no download possible now, with the fix.
    """
    def local(names: list[str]) -> str | None:
        for name in names:
            path = cached_hub_file(repo_id, name, cache_dir)
            if path is not None:
                return path
        return None

    wanted = {'config': [HF_CONFIG_NAME], 'weights': hf_weight_filenames('')}
    found = {key: local(names) for key, names in wanted.items()}
    if None in found.values():
        source = f'{hub_endpoint()}/{repo_id}'
        reason = offline_reason(source)
        if reason is not None:
            raise WeightsNotFoundError(
                f'open_clip model hf-hub:{repo_id} is not in the local Hugging Face cache and '
                f'this environment cannot download it ({reason}). Fix: run once on a machine '
                f'with internet (or with HF_ENDPOINT set to a reachable mirror) and copy the '
                f'cache folder here, or pass the weights file with pretrained=/path/to/file.')
        print_log(f'downloading hf-hub:{repo_id} from {source}', logger='current')
        found = {key: found[key] or hub_download(repo_id, wanted[key], cache_dir)
                 for key in wanted}
    try:
        with open(found['config'], encoding='utf-8') as handle:
            config = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f'hf-hub:{repo_id}: {found["config"]} is not valid JSON ({error}). '
                         f'Fix: delete it (the next run downloads it again)') from None
    if 'model_cfg' not in config:
        raise ValueError(f'hf-hub:{repo_id}: {HF_CONFIG_NAME} has no "model_cfg"')
    return os.path.dirname(found['config']), config, found['weights']


def _open_clip_compat(model: nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """open_clip's own checkpoint fix-ups (old text layout, scalar logit scale/bias...)."""
    state = convert_state_dict(model, state)
    if 'positional_embedding' in state and not hasattr(model, 'positional_embedding'):
        state = convert_to_custom_text_state_dict(state)
    for name in ('logit_scale', 'logit_bias'):
        param = getattr(model, name, None)
        if isinstance(param, Tensor) and name in state and state[name].ndim != param.ndim:
            state[name] = state[name].reshape(param.shape)
    if isinstance(getattr(model, 'logit_bias', None), Tensor) and 'logit_bias' not in state:
        state['logit_bias'] = torch.zeros_like(model.logit_bias)
    state.pop('text.transformer.embeddings.position_ids', None)
    return state


def load_clip_weights(model: nn.Module, path: str, model_name: str) -> None:
    """Load a full open_clip CLIP state dict from ``path`` with strict key/shape checking.

    EVA-CLIP-layout files (BAAI's ``EVA02_CLIP_*.pt``, the DeCLIP / CLIPSelf releases) are
    converted to open_clip's ``EVA02-*`` names first (:mod:`.convert`).
    """
    expected = model.state_dict()
    state = load_state_dict_file(path)
    if is_eva_clip_state(state):
        state = {key[len(MODEL_PREFIX):]: value
                 for key, value in convert_eva_clip(state).items()}
    state = align_prefixes(state, expected.keys())
    state = _open_clip_compat(model, state)
    check_state_dict(expected, state, model_name, path)
    model.load_state_dict(state, strict=True)


def normalisation_stats(model_name: str, tag_cfg: dict, model: nn.Module
                        ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Image mean/std (0..1 scale): the tag's; else the one shared by all of the model's tags
    (files / random init of e.g. SigLIP); else the model's preprocess cfg (OpenAI defaults)."""
    if 'mean' in tag_cfg and 'std' in tag_cfg:
        return tuple(tag_cfg['mean']), tuple(tag_cfg['std'])
    stats = set()
    for tag in list_pretrained_tags(model_name):
        cfg = open_clip.get_pretrained_cfg(model_name, tag)
        stats.add((tuple(cfg.get('mean', ())), tuple(cfg.get('std', ()))))
    if len(stats) == 1 and all(next(iter(stats))):
        return next(iter(stats))
    pp = getattr(model.visual, 'preprocess_cfg', {})
    return (tuple(pp.get('mean', open_clip.OPENAI_DATASET_MEAN)),
            tuple(pp.get('std', open_clip.OPENAI_DATASET_STD)))


@contextlib.contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """Hide open_clip's 'initialized randomly' root-logger warning (we log our own)."""
    def keep(record: logging.LogRecord) -> bool:
        return 'No pretrained weights loaded' not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def tower_description(model_name: str, model_kwargs: dict) -> str:
    """``model_name``, or for an architecture changed by ``model_kwargs`` (the tiny test
    towers) a name that does not read like the full model: ``'custom tower (ViT-B-16 changed:
    width 64, layers 2, patch_size 16, embed_dim 32)'``."""
    if not any(key in model_kwargs for key in ('embed_dim', 'vision_cfg', 'text_cfg')):
        return model_name  # e.g. only quick_gelu: the named architecture itself
    vision = dict(model_kwargs.get('vision_cfg') or {})
    shown = {key: vision[key] for key in ('width', 'layers', 'patch_size') if key in vision}
    if 'embed_dim' in model_kwargs:
        shown['embed_dim'] = model_kwargs['embed_dim']
    details = ', '.join(f'{key} {value}' for key, value in shown.items()) or 'custom sizes'
    return f'custom tower ({model_name} changed: {details})'


# ---------------------------------------------------------------- backbone
@MODELS.register_module()
class OpenCLIPBackbone(BaseModule):
    """Frozen open_clip image/text towers with dense features in the joint space.

    Args:
        model_name: open_clip architecture name (e.g. ``'ViT-B-16'``, ``'RN50'``) or
            ``'hf-hub:ORG/NAME'`` (architecture and weights from that hub repository).
        pretrained: None (random init; an ``hf-hub:`` model: its repository's weights), a
            local file, or an open_clip tag (from the local caches, downloaded into them on
            first use where a network exists).
        dense_mode: last-block variant for ViTs, one of ``DENSE_MODES``; CNNs accept
            ``'vanilla'`` / ``'maskclip'`` (both the attention-pool value path for ResNets).
        naclip_gaussian_std: std (in patches) of NACLIP's neighbourhood prior.
        pos_embed_resize: how the position-embedding grid follows the input grid, one of
            ``POS_EMBED_RESIZE_MODES`` (``'bicubic_offset'`` is the DINO +0.1 rule of the
            official SCLIP / NACLIP / ClearCLIP / ProxyCLIP / Trident code).
        grid_remainder: how ViT dense features meet sides that are not multiples of the
            patch size, one of ``GRID_REMAINDER_MODES``: ``'pad'`` (bottom/right zero
            padding to the ceiling grid, the default), ``'centre_pad'`` (ClearCLIP) or
            ``'drop'`` (SCLIP / NACLIP: floor grid, stretched over the window when stitched).
        model_kwargs: overrides passed to ``open_clip.create_model`` (tiny test towers).
        timm_kwargs: for towers with a timm trunk (``EVA02-*``, ConvNeXt): architecture
            overrides passed to ``timm.create_model`` when the trunk is rebuilt (tiny test
            towers, e.g. ``dict(embed_dim=64, depth=3, num_heads=2, img_size=64)``).
        cache_dir: HF hub cache / open_clip url cache (default: their defaults).
        frozen: no gradients and always in eval mode.
        init_cfg: mmengine init config (weights normally come from ``pretrained``).
    """

    def __init__(self, model_name: str = 'ViT-B-16', pretrained: str | None = None, *,
                 dense_mode: str = 'vanilla', naclip_gaussian_std: float = 5.0,
                 pos_embed_resize: str = 'bicubic', grid_remainder: str = 'pad',
                 model_kwargs: dict | None = None, timm_kwargs: dict | None = None,
                 cache_dir: str | None = None, frozen: bool = True,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if ':' in model_name and not model_name.startswith(HF_HUB_PREFIX):
            raise ValueError(f'model_name {model_name!r}: of the schemas only hf-hub:ORG/NAME is '
                             'supported; use it, a built-in name, or pretrained=/path/to/file')
        check_dense_mode(dense_mode)
        if pos_embed_resize not in POS_EMBED_RESIZE_MODES:
            raise ValueError(f'pos_embed_resize must be one of {POS_EMBED_RESIZE_MODES}, got '
                             f'{pos_embed_resize!r}')
        self.pos_embed_resize = pos_embed_resize
        if grid_remainder not in GRID_REMAINDER_MODES:
            raise ValueError(f'grid_remainder must be one of {GRID_REMAINDER_MODES}, got '
                             f'{grid_remainder!r}')
        self.grid_remainder = grid_remainder
        self.model_name, self.dense_mode, self.frozen = model_name, dense_mode, frozen
        self.naclip_gaussian_std = float(naclip_gaussian_std)
        self.cache_dir = cache_dir
        self._tokenizer: Callable | None = None
        model_kwargs = dict(model_kwargs or {})
        self._open_clip_name = model_name  # hf-hub models: 'local-dir:' of their cached files
        tag, tag_cfg, path = self._resolve_weights(pretrained, cache_dir)
        if tag_cfg.get('quick_gelu') and 'quick_gelu' not in model_kwargs:
            model_kwargs['quick_gelu'] = True  # e.g. OpenAI weights with a plain ViT-B-16 config
        with _quiet_random_init_warning():
            self.model = open_clip.create_model(self._open_clip_name, pretrained=None,
                                                load_weights=False,
                                                pretrained_image=False, pretrained_text=False,
                                                cache_dir=cache_dir, **model_kwargs)
        if timm_kwargs:
            self._rebuild_timm_trunk(dict(timm_kwargs))
        self.kind = self._tower_kind()
        self._check_mode_supported()
        if path is not None:
            load_clip_weights(self.model, path, model_name)
        description = tower_description(model_name, dict(model_kwargs, **(
            {'vision_cfg': timm_kwargs} if timm_kwargs else {})))
        print_log(f'OpenCLIPBackbone {description}: weights '
                  f'{path or "random init (no pretrained weights)"}', logger='current',
                  level=logging.INFO if path else logging.WARNING)
        self.weights_id = (f'{model_name}:random:{id(self)}' if path is None else
                           f'{model_name}:{tag}' if tag else
                           f'{model_name}:file:{file_identity(path)}')
        cfg = dict(open_clip.get_model_config(self._open_clip_name) or {}, **model_kwargs)
        self.embed_dim: int = int(cfg['embed_dim'])
        mean, std = normalisation_stats(model_name, tag_cfg, self.model)
        self.mean = tuple(float(m) * 255.0 for m in mean)
        self.std = tuple(float(s) * 255.0 for s in std)
        self.patch_size: int | None = (
            int(self.visual.patch_size[0]) if self.kind == 'vit' else
            int(self.visual.trunk.patch_embed.patch_size[0]) if self.kind == 'timm_vit' else
            CNN_STRIDE)
        if frozen:
            for param in self.model.parameters():
                param.requires_grad_(False)
            self.eval()

    # ------------------------------------------------------------ construction helpers
    def _resolve_weights(self, pretrained: str | None,
                         cache_dir: str | None) -> tuple[str | None, dict, str | None]:
        """(normalised tag or None, tag config or {}, local weights file or None).

        A tag missing from the local caches is downloaded into them on first use
        (:func:`download_pretrained_weights`); an ``hf-hub:`` model brings its own weights
        (``pretrained`` None) unless ``pretrained`` is a local file.
        """
        if self.model_name.startswith(HF_HUB_PREFIX):
            if pretrained and not os.path.isfile(pretrained):
                raise WeightsNotFoundError(
                    f'{self.model_name} takes its weights from the hub repository: leave '
                    f'pretrained unset or give a local file (got {pretrained!r})')
            folder, hub_cfg, hub_weights = hub_model_files(
                self.model_name[len(HF_HUB_PREFIX):], cache_dir)
            self._open_clip_name = f'local-dir:{folder}'
            return None, dict(hub_cfg.get('preprocess_cfg') or {}), pretrained or hub_weights
        if not pretrained:
            return None, {}, None
        if os.path.isfile(pretrained):
            return None, {}, pretrained
        if looks_like_path(pretrained):
            raise WeightsNotFoundError(f'weights file not found: {pretrained!r}')
        cfg = pretrained_cfg(self.model_name, pretrained)
        path = download_pretrained_weights(self.model_name, pretrained, cache_dir)
        return pretrained.lower().replace('-', '_'), cfg, path

    def _rebuild_timm_trunk(self, timm_kwargs: dict) -> None:
        """Replace the timm trunk by one built with ``timm_kwargs`` (same name, classes and
        pooling): e.g. a tiny EVA-02 for tests, which open_clip's configs cannot express."""
        import timm
        visual = self.model.visual
        if not isinstance(visual, TimmModel):
            raise ValueError(f'timm_kwargs needs a timm tower; {self.model_name} has '
                             f'{type(visual).__name__}')
        trunk = visual.trunk
        name = trunk.pretrained_cfg.get('architecture') or type(trunk).__name__.lower()
        visual.trunk = timm.create_model(name, pretrained=False, num_classes=trunk.num_classes,
                                         global_pool=trunk.global_pool, **timm_kwargs)

    def _tower_kind(self) -> str:
        visual = self.model.visual
        for cls, kind in ((VisionTransformer, 'vit'), (ModifiedResNet, 'resnet'),
                          (TimmModel, 'timm')):
            if isinstance(visual, cls):
                is_token_trunk = kind == 'timm' and hasattr(visual.trunk, 'patch_embed')
                return 'timm_vit' if is_token_trunk else kind
        raise NotImplementedError(f'{self.model_name}: unsupported vision tower '
                                  f'{type(visual).__name__}')

    def _check_mode_supported(self) -> None:
        if self.kind in ('resnet', 'timm') and self.dense_mode not in CNN_DENSE_MODES:
            raise ValueError(f'dense_mode {self.dense_mode!r} is ViT-only; {self.model_name} '
                             f'({self.kind}) supports {list(CNN_DENSE_MODES)}')
        if self.kind == 'timm_vit' and not is_eva_trunk(self.visual.trunk):
            if self.dense_mode != 'vanilla':
                raise NotImplementedError(f'{self.model_name}: dense modes need an open_clip '
                                          'VisionTransformer or an EVA-02 (timm Eva) tower')
        if self.kind == 'vit' and self.dense_mode != 'vanilla':
            last = self.visual.transformer.resblocks[-1]
            if not isinstance(getattr(last, 'attn', None), nn.MultiheadAttention):
                raise NotImplementedError(
                    f'{self.model_name}: dense_mode {self.dense_mode!r} needs standard '
                    f'ResidualAttentionBlocks, got {type(last).__name__}')

    # ------------------------------------------------------------ module behaviour
    @property
    def visual(self) -> nn.Module:
        """The open_clip vision tower."""
        return self.model.visual

    @property
    def grid_placement(self) -> tuple[int | None, bool]:
        """How a window's dense grid lies on the window, for stitching: (stride, centred).

        ``(patch_size, False)``: the ceiling grid covers the window padded bottom/right;
        ``(patch_size, True)``: padded on both sides (``grid_remainder='centre_pad'``);
        ``(None, False)``: the floor grid stretched over the window (``'drop'``).
        """
        if self.kind not in ('vit', 'timm_vit') or self.grid_remainder == 'pad':
            return self.patch_size, False
        if self.grid_remainder == 'drop':
            return None, False
        return self.patch_size, True

    @property
    def logit_scale(self) -> float:
        """exp of the model's learned logit scale (100 for OpenAI CLIP)."""
        return float(self.model.logit_scale.detach().exp().reshape(-1)[0])

    def train(self, mode: bool = True) -> OpenCLIPBackbone:
        """Set training mode; a frozen backbone always stays in eval mode."""
        return super().train(mode and not self.frozen)

    def init_weights(self) -> None:
        """Weights come from the constructor; only an explicit init_cfg re-initialises."""
        if self.init_cfg is not None:
            super().init_weights()

    @property
    def tokenizer(self) -> Callable[[list[str]], Tensor]:
        """open_clip tokenizer of the model, created on first use."""
        if self._tokenizer is None:
            self._tokenizer = open_clip.get_tokenizer(
                self._open_clip_name, context_length=self.model.context_length)
        return self._tokenizer

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------ text / global image
    @torch.no_grad()
    def encode_text(self, texts: list[str], normalize: bool = True, *,
                    trim: bool = True) -> Tensor:
        """(K,) prompts -> (K, C) text embeddings (L2-normalised unless ``normalize=False``),
        in chunks of 256.

        With ``trim`` (and a causal, end-of-text-pooled text tower), prompts are sorted by
        length into chunks and each chunk runs only up to its longest prompt
        (:mod:`.text_encoding`): the same embeddings, several times faster than the full
        77-token context. ``trim=False`` runs open_clip's own ``encode_text``.
        """
        if not texts:
            return torch.zeros(0, self.embed_dim, device=self._device())
        tokens = self.tokenizer(list(texts)).to(self._device())
        if not (trim and trimmable_text_tower(self.model)):
            return torch.cat([self.model.encode_text(tokens[i:i + TEXT_CHUNK],
                                                     normalize=normalize)
                              for i in range(0, len(texts), TEXT_CHUNK)])
        out: Tensor | None = None
        for batch in length_sorted_batches(pooled_positions(self.model, tokens), TEXT_CHUNK):
            encoded = encode_tokens_trimmed(self.model, tokens[batch], normalize=normalize)
            out = encoded.new_empty(len(texts), encoded.shape[-1]) if out is None else out
            out[batch] = encoded
        return out

    def image_embedding(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, C) L2-normalised global embeddings."""
        if self.kind == 'vit' and self.visual.attn_pool is None:
            x, _ = self._vit_embed(images, pad=False)
            feats = self._vit_pooled(self._run_blocks(x, self.visual.transformer.resblocks))
        elif self.kind == 'resnet':
            feats = attention_pool_any_grid(self.visual.attnpool, self._resnet_stages(images)[-1])
        elif self._is_eva:
            feats = eva_image_embedding(self.visual, images, self.pos_embed_resize)
        else:
            feats = self.visual(images)
        return F.normalize(feats, dim=-1)

    # ------------------------------------------------------------ dense features
    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, C, ceil(H/p), ceil(W/p)), not normalised
        (floor sizes for a ViT with ``grid_remainder='drop'``)."""
        if self.kind == 'resnet':
            return attention_pool_value_path(self.visual.attnpool,
                                             self._resnet_stages(self._pad(images))[-1])
        if self.kind == 'timm':
            return timm_dense_features(self.visual, self._pad(images))
        if self._is_eva:
            images = fit_to_patch_grid(images, (self.patch_size, self.patch_size),
                                       self.grid_remainder)
            return eva_dense_features(self.visual, images, self.dense_mode,
                                      self.pos_embed_resize, self.naclip_gaussian_std)
        self._require_vit('dense_features', dense=True)
        x, grid = self._vit_embed(images)
        blocks = self.visual.transformer.resblocks
        x = self._run_blocks(x, blocks[:-1])
        return self._dense_last_block(x, grid)

    def _dense_last_block(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """The ``dense_mode`` variant of the last ViT block on its (B, 1 + h*w, D) input,
        projected to (B, C, h, w)."""
        last = self.visual.transformer.resblocks[-1]
        attn_fn = mode_attention_fn(self.dense_mode, grid, self.naclip_gaussian_std)
        if attn_fn is None:
            x = self._run_blocks(x, [last])
        else:
            x = modified_block_forward(last, x, attn_fn,
                                       DENSE_MODES[self.dense_mode].keep_residual_ffn)
        return self._vit_project(x[:, 1:], grid)

    def decoupled_features(self, images: Tensor
                           ) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
        """DeCLIP's decoupled last block: content features and context queries / keys.

        ``dense_mode`` must replace the whole last block (``declip``, ``declip_qq``,
        ``clearclip``, ``naclip``); the features carry gradients when the tower is trainable.

        Args:
            images: (B, 3, H, W) normalised images.

        Returns:
            ``(content (B, C, h, w) as dense_features, q (B, h*w, D), k (B, h*w, D), (h, w))``
            with q and k the last block's patch queries and keys, heads concatenated.
        """
        if DENSE_MODES[self.dense_mode].attention is None or \
                DENSE_MODES[self.dense_mode].keep_residual_ffn:
            raise ValueError(f'decoupled_features needs a dense_mode without residual/FFN '
                             f'(declip, declip_qq, clearclip, naclip), got {self.dense_mode!r}')
        if self._is_eva:
            images = fit_to_patch_grid(images, (self.patch_size, self.patch_size),
                                       self.grid_remainder)
            return eva_decoupled_features(self.visual, images, self.dense_mode,
                                          self.pos_embed_resize)
        self._require_vit('decoupled_features', dense=True)
        x, grid = self._vit_embed(images)
        blocks = self.visual.transformer.resblocks
        x = self._run_blocks(x, blocks[:-1])
        q, k, v = block_qkv(blocks[-1], x)
        attended = mode_attention_fn(self.dense_mode, grid, self.naclip_gaussian_std)(q, k, v)
        content = self._vit_project(block_output_projection(blocks[-1], attended)[:, 1:], grid)
        return content, merge_heads(q)[:, 1:], merge_heads(k)[:, 1:], grid

    def dense_features_with_attention(self, images: Tensor, attention_fn: DenseAttentionFn,
                                      project: bool = True) -> Tensor:
        """ViT dense features with the last block's attention replaced (no residual, no FFN).

        Args:
            images: (B, 3, H, W) normalised images.
            attention_fn: ``(q, k, v, (h, w)) -> attended`` with q, k, v of shape
                (B, heads, 1 + h*w, head_dim) (class token first) from ``ln_1(x)``. It returns
                (B, heads, 1 + h*w or h*w, head_dim), or a tuple ``(attended, (h2, w2))`` with
                (B, heads, 1 + h2*w2 or h2*w2, head_dim) for another output grid (e.g. a
                DINO grid). A leading class token is dropped.

            project: False returns the raw (B, width, h2, w2) ``out_proj(attended)`` tokens
                (:meth:`project_patch_tokens` finishes them).

        Returns:
            (B, C, h2, w2) features: ``proj(ln_post(out_proj(attended)))`` per patch.
        """
        self._require_vit('dense_features_with_attention', dense=True)
        x, grid = self._vit_embed(images)
        blocks = self.visual.transformer.resblocks
        x = self._run_blocks(x, blocks[:-1])
        result = attention_fn(*block_qkv(blocks[-1], x), grid)
        attended, out_grid = result if isinstance(result, tuple) else (result, grid)
        n = out_grid[0] * out_grid[1]
        if attended.shape[-2] not in (n, n + 1):
            raise ValueError(f'attention_fn returned {attended.shape[-2]} tokens for grid '
                             f'{tuple(out_grid)} (expected {n} or {n + 1})')
        tokens = block_output_projection(blocks[-1], attended[..., attended.shape[-2] - n:, :])
        if not project:
            return tokens_to_map(tokens, tuple(out_grid))
        return self._vit_project(tokens, tuple(out_grid))

    def dense_intermediates(self, images: Tensor, indices: list[int]) -> list[Tensor]:
        """Feature maps after the given ViT blocks (B, width, h, w) or CNN stages (0..3).

        Negative indices count from the end; maps come back in the order of ``indices``.
        """
        if self.kind == 'timm_vit':
            self._require_vit('dense_intermediates')
        if self.kind == 'vit':
            x, grid = self._vit_embed(images)
            blocks = self.visual.transformer.resblocks
            wanted = [i % len(blocks) for i in indices]
            _, kept = self._run_keeping(x, blocks[:max(wanted) + 1], wanted)
            return [tokens_to_map(kept[i][:, 1:], grid) for i in wanted]
        images = self._pad(images)
        if self.kind == 'resnet':
            stages = self._resnet_stages(images)
            return [stages[i] for i in indices]
        wanted = [i % len(self.visual.trunk.feature_info) for i in indices]
        unique = sorted(set(wanted))
        maps = self.visual.trunk.forward_intermediates(images, indices=unique,
                                                       intermediates_only=True)
        return [dict(zip(unique, maps))[i] for i in wanted]

    def dense_intermediates_and_embedding(self, images: Tensor, indices: Sequence[int]
                                          ) -> tuple[list[Tensor], Tensor]:
        """:meth:`dense_intermediates` and :meth:`image_embedding` of the same images, from
        one ViT pass where that gives both exactly (MuSc: the release reads the block tokens
        and the image embedding off one forward).

        One pass needs a plain open_clip ViT (no attentional pool) and a patch grid that
        ``image_embedding``'s unpadded pass shares: sides that are multiples of the patch
        size, or ``grid_remainder='drop'`` (its top-left crop is the unpadded grid). Any
        other backbone or size runs the two methods one after the other (same numbers).

        Args:
            images: (B, 3, H, W) normalised images.
            indices: ViT blocks (negative: from the end) or CNN stages, as
                :meth:`dense_intermediates`.

        Returns:
            ``([(B, width, h, w)] in the order of indices, (B, C) L2-normalised embedding)``.
        """
        if not self._one_pass_embedding(images):
            return self.dense_intermediates(images, list(indices)), self.image_embedding(images)
        x, grid = self._vit_embed(images)
        blocks = self.visual.transformer.resblocks
        wanted = [i % len(blocks) for i in indices]
        x, kept = self._run_keeping(x, blocks, wanted)
        maps = [tokens_to_map(kept[i][:, 1:], grid) for i in wanted]
        return maps, F.normalize(self._vit_pooled(x), dim=-1)

    def _one_pass_embedding(self, images: Tensor) -> bool:
        """Whether one ViT pass over the grid-fitted ``images`` gives exactly
        :meth:`image_embedding` (which embeds the unpadded images)."""
        if self.kind != 'vit' or self.visual.attn_pool is not None:
            return False
        patch_h, patch_w = tuple(self.visual.patch_size)
        whole = images.shape[-2] % patch_h == 0 and images.shape[-1] % patch_w == 0
        return whole or self.grid_remainder == 'drop'

    def block_maps_and_dense(self, images: Tensor, indices: Sequence[int]
                             ) -> tuple[list[Tensor], Tensor]:
        """One ViT pass for detectors on a frozen ViT (F-ViT's simple feature pyramid).

        Args:
            images: (B, 3, H, W) normalised images.
            indices: blocks (negative: from the end) whose patch tokens are returned; the
                last block is the ``dense_mode`` variant, and its output is what the last
                index returns (F-ViT: ``'maskclip'``, CLIPSelf's ``forward_without_attn``).

        Returns:
            ``([(B, width, h, w)] in the order of indices, dense (B, C, h, w))``, the dense
            map as :meth:`dense_features` (not normalised).
        """
        if self._is_eva:
            images = fit_to_patch_grid(images, (self.patch_size, self.patch_size),
                                       self.grid_remainder)
            return eva_block_maps_and_dense(self.visual, images, indices, self.dense_mode,
                                            self.pos_embed_resize)
        self._require_vit('block_maps_and_dense', dense=True)
        x, grid = self._vit_embed(images)
        blocks = self.visual.transformer.resblocks
        wanted = [i % len(blocks) for i in indices]
        x, kept = self._run_keeping(x, blocks[:-1], wanted)
        maps = {i: tokens_to_map(tokens[:, 1:], grid) for i, tokens in kept.items()}
        attn_fn = mode_attention_fn(self.dense_mode, grid, self.naclip_gaussian_std)
        x = self._run_blocks(x, blocks[-1:]) if attn_fn is None else modified_block_forward(
            blocks[-1], x, attn_fn, DENSE_MODES[self.dense_mode].keep_residual_ffn)
        maps[len(blocks) - 1] = tokens_to_map(x[:, 1:], grid)
        return [maps[i] for i in wanted], self._vit_project(x[:, 1:], grid)

    def _run_keeping(self, x: Tensor, blocks: Sequence[nn.Module], wanted: Sequence[int]
                     ) -> tuple[Tensor, dict[int, Tensor]]:
        """Run (B, 1 + h*w, width) tokens through ``blocks``, keeping the tokens after each
        block whose position is in ``wanted``."""
        kept: dict[int, Tensor] = {}
        for i, blk in enumerate(blocks):
            x = self._run_blocks(x, [blk])
            if i in wanted:
                kept[i] = x
        return x, kept

    def window_embeddings(self, images: Tensor, windows: Tensor) -> Tensor:
        """WinCLIP masked forward: class token of the ViT run on each window's patches only.

        Args:
            images: (B, 3, H, W) normalised images.
            windows: (N, k) flat patch indices (row-major over the patch grid) per window.

        Returns:
            (B, N, C) L2-normalised window embeddings in the joint space.
        """
        self._require_vit('window_embeddings', dense=True)
        x, _ = self._vit_embed(images)
        batch, n = x.shape[0], windows.shape[0]
        index = windows.to(x.device) + 1  # skip the class token
        patches = x[:, index]  # (B, N, k, D)
        cls = x[:, :1].unsqueeze(1).expand(-1, n, -1, -1)
        tokens = torch.cat([cls, patches], dim=2).flatten(0, 1)
        tokens = self._run_blocks(tokens, self.visual.transformer.resblocks)
        return F.normalize(self._vit_pooled(tokens), dim=-1).view(batch, n, -1)

    def global_and_dense_features(self, images: Tensor, indices: Sequence[int] = ()
                                  ) -> tuple[Tensor, list[Tensor], Tensor]:
        """One ViT pass for anomaly heads: global embedding, projected intermediate patch
        maps and the ``dense_mode`` last-block map (instead of three separate passes).

        Args:
            images: (B, 3, H, W) normalised images (sides multiples of the patch size give
                exactly ``image_embedding``'s global embedding).
            indices: ViT blocks (negative: from the end) whose patch tokens are projected
                through ``ln_post`` and the projection.

        Returns:
            ``(global (B, C) L2-normalised, [(B, C, h, w)] in the order of indices,
            dense (B, C, h, w) as dense_features)``.
        """
        self._require_vit('global_and_dense_features', dense=True)
        x, grid = self._vit_embed(images)
        blocks = self.visual.transformer.resblocks
        wanted = [i % len(blocks) for i in indices]
        x, kept = self._run_keeping(x, blocks[:-1], wanted)
        maps = {i: self._vit_project(tokens[:, 1:], grid) for i, tokens in kept.items()}
        dense = self._dense_last_block(x, grid)
        x = self._run_blocks(x, blocks[-1:])
        if len(blocks) - 1 in wanted:
            maps[len(blocks) - 1] = self._vit_project(x[:, 1:], grid)
        return F.normalize(self._vit_pooled(x), dim=-1), [maps[i] for i in wanted], dense

    def vit_tokens(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """(B, 3, H, W) normalised images -> (B, 1 + h*w, width) tokens entering the first
        block (class token first, position embeddings resized by ``pos_embed_resize``, after
        ``ln_pre``) and the (h, w) grid; for methods that run the blocks themselves."""
        self._require_vit('vit_tokens', dense=True)
        return self._vit_embed(images)

    def vit_hidden_states(self, images: Tensor, num_blocks: int | None = None
                          ) -> tuple[list[Tensor], tuple[int, int]]:
        """Tokens entering the first block and leaving each of the first ``num_blocks`` blocks.

        Args:
            images: (B, 3, H, W) normalised images (grid as :meth:`dense_features`).
            num_blocks: blocks to run (default: all but the last, which the dense methods
                replace).

        Returns:
            ``[x_0, x_1, ..., x_n]``, each (B, 1 + h*w, width) with the class token first
            (``x_0`` after ``ln_pre``, ``x_i`` after block ``i - 1``), and the (h, w) grid.
        """
        self._require_vit('vit_hidden_states', dense=True)
        blocks = self.visual.transformer.resblocks
        num_blocks = len(blocks) - 1 if num_blocks is None else int(num_blocks)
        if not 0 <= num_blocks <= len(blocks):
            raise ValueError(f'num_blocks must be in [0, {len(blocks)}], got {num_blocks}')
        x, grid = self._vit_embed(images)
        states = [x]
        for blk in blocks[:num_blocks]:
            states.append(self._run_blocks(states[-1], [blk]))
        return states, grid

    def run_last_vit_blocks(self, tokens: Tensor, count: int) -> Tensor:
        """The last ``count`` vision blocks on (B, 1 + h*w, width) tokens (class token first);
        for heads built from CLIP's last blocks (Chimera-Seg's semantic head). Gradients flow
        to ``tokens`` (the blocks' own parameters follow ``frozen``)."""
        self._require_vit('run_last_vit_blocks', dense=True)
        blocks = self.visual.transformer.resblocks
        if not 0 <= count <= len(blocks):
            raise ValueError(f'count must be in [0, {len(blocks)}], got {count}')
        return self._run_blocks(tokens, list(blocks)[len(blocks) - count:])

    def project_patch_tokens(self, maps: Tensor) -> Tensor:
        """(B, width, h, w) intermediate ViT tokens -> ln_post -> proj -> (B, C, h, w)."""
        self._require_vit('project_patch_tokens', dense=True)
        grid = (maps.shape[-2], maps.shape[-1])
        return self._vit_project(maps.flatten(2).transpose(1, 2), grid)
    # ------------------------------------------------------------ multi-scale (CNN CLIPs)
    @property
    def stage_channels(self) -> dict[str, int]:
        """Channels of the four CNN stages ``{'res2': C2, ..., 'res5': C5}`` (strides 4..32)."""
        self._require_cnn('stage_channels')
        if self.kind == 'resnet':
            layers = (self.visual.layer1, self.visual.layer2, self.visual.layer3,
                      self.visual.layer4)
            channels = [int(layer[-1].conv3.out_channels) for layer in layers]
        else:
            channels = [int(info['num_chs']) for info in self.visual.trunk.feature_info[-4:]]
        return dict(zip(MULTISCALE_NAMES, channels))

    def multiscale_features(self, images: Tensor) -> dict[str, Tensor]:
        """Trunk features of a ConvNeXt / ResNet CLIP at strides 4, 8, 16 and 32.

        Args:
            images: (B, 3, H, W) normalised images (padded to a multiple of 32 here).

        Returns:
            ``{'res2': (B, C2, H/4, W/4), ..., 'res5': (B, C5, H/32, W/32)}`` (ceil sizes),
            trunk space; :meth:`project_trunk_features` maps ``res5`` into the joint space.
        """
        self._require_cnn('multiscale_features')
        return dict(zip(MULTISCALE_NAMES, self.dense_intermediates(images, [0, 1, 2, 3])))

    def project_trunk_features(self, features: Tensor) -> Tensor:
        """Last-stage trunk features -> joint space, per location (the CLIP head as 1x1).

        ConvNeXt: head norm + projection; ResNet: the attention pool's value path. FC-CLIP
        pools ``res5`` under each mask first and projects the pooled vectors: pass them as
        (M, C5, 1, 1).

        Args:
            features: (B, C5, h, w) ``res5`` features (or pooled ones, h = w = 1).

        Returns:
            (B, C, h, w), not normalised; equals :meth:`dense_features` for ``res5``.
        """
        self._require_cnn('project_trunk_features')
        if self.kind == 'resnet':
            return attention_pool_value_path(self.visual.attnpool, features)
        return timm_project_map(self.visual, features)

    def _require_cnn(self, what: str) -> None:
        if self.kind not in ('resnet', 'timm'):
            raise NotImplementedError(f'{what} needs a ConvNeXt or ResNet CLIP (FC-CLIP style); '
                                      f'{self.model_name} has a {self.kind} tower')

    # ------------------------------------------------------------ ViT internals
    @property
    def _is_eva(self) -> bool:
        return self.kind == 'timm_vit' and is_eva_trunk(self.visual.trunk)

    def _require_vit(self, what: str, dense: bool = False) -> None:
        if self.kind != 'vit':
            raise NotImplementedError(f'{what} needs an open_clip VisionTransformer; '
                                      f'{self.model_name} has a {self.kind} tower')
        if dense and self.visual.attn_pool is not None:
            raise NotImplementedError(f'{self.model_name}: attentional-pool ViTs have no dense '
                                      'path')

    def _pad(self, images: Tensor) -> Tensor:
        return pad_to_multiple(images, (self.patch_size, self.patch_size))

    def _vit_embed(self, images: Tensor, pad: bool = True) -> tuple[Tensor, tuple[int, int]]:
        """Patch + class tokens with interpolated position embeddings, after ln_pre.

        Returns:
            (B, 1 + h*w, width) tokens and the (h, w) grid.
        """
        v = self.visual
        if pad:
            images = fit_to_patch_grid(images, tuple(v.patch_size), self.grid_remainder)
        x = v.conv1(images.to(v.conv1.weight.dtype))
        grid = (x.shape[-2], x.shape[-1])
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).reshape(1, 1, -1).expand(x.shape[0], -1, -1)
        pos = interpolate_pos_embed(v.positional_embedding, tuple(v.grid_size), grid,
                                    mode=self.pos_embed_resize)
        x = torch.cat([cls, x], dim=1) + pos.to(x.dtype)
        return v.ln_pre(x), grid

    def _run_blocks(self, x: Tensor, blocks: nn.ModuleList | list[nn.Module]) -> Tensor:
        """Standard open_clip blocks on batch-first (B, T, D) tokens."""
        batch_first = getattr(self.visual.transformer, 'batch_first', True)
        for blk in blocks:
            x = blk(x) if batch_first else blk(x.transpose(0, 1)).transpose(0, 1)
        return x

    def _vit_pooled(self, x: Tensor) -> Tensor:
        """(B, 1 + h*w, width) tokens after the last block -> (B, C) pooled and projected
        (open_clip's own pooling), not normalised."""
        pooled, _ = self.visual._pool(x)
        return pooled @ self.visual.proj if self.visual.proj is not None else pooled

    def _vit_project(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        """(B, h*w, width) patch tokens -> ln_post -> proj -> (B, C, h, w)."""
        x = self.visual.ln_post(tokens)
        if self.visual.proj is not None:
            x = x @ self.visual.proj
        return tokens_to_map(x, grid)

    # ------------------------------------------------------------ CNN internals
    def _resnet_stages(self, images: Tensor) -> list[Tensor]:
        """ModifiedResNet stem + layer1..4; returns the four stage outputs."""
        v = self.visual
        x = v.stem(images.to(v.conv1.weight.dtype))
        outs = []
        for layer in (v.layer1, v.layer2, v.layer3, v.layer4):
            x = layer(x)
            outs.append(x)
        return outs
