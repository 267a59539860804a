"""Segment Anything (Kirillov et al., ICCV 2023); the only importer of ``segment_anything``.

:class:`SAMWrapper` builds SAM from the ``segment_anything`` modules (official sizes
``vit_b`` / ``vit_l`` / ``vit_h``, or ``tiny`` for tests), loads a local checkpoint safely, and
exposes the three things the refiners need:

* ``set_image``: resize the longest side to ``image_size``, normalise, pad, and run the image
  encoder **once** per image (:class:`SAMImageState`);
* ``predict``: prompts (points / boxes / low-resolution mask logits) in original-image pixels
  -> masks at the original size (:class:`SAMMasks`), batched over prompts;
* ``image_features``: the encoder's feature map of the valid (un-padded) image area;
* ``automatic_masks``: "segment everything" from a regular point grid (own implementation:
  grid, predicted-IoU and stability filtering, box NMS).
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms

from ovperception.models.clip.weights import (WeightsNotFoundError, align_prefixes,
                                              check_state_dict, load_state_dict_file)
from ovperception.models.refiners.mask_ops import masks_to_boxes, point_grid, stability_score
from ovperception.registry import MODELS
from ovperception.utils.download import fetch_release_file
from ovperception.utils.sam_release import (OFFICIAL_CHECKPOINT, SAM_CHECKPOINT_SHA256,
                                            SAM_CHECKPOINT_URLS)


def sam_cache_dir() -> str:
    """Where official SAM checkpoints are cached: ``$TORCH_HOME/hub/checkpoints``
    (``~/.cache/torch/hub/checkpoints``), torch hub's folder for release files."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints')


def official_sam_checkpoint(model_type: str, cache_dir: str | None = None,
                            mirror: str | None = None) -> str:
    """Local path of the official ``model_type`` checkpoint, downloaded on first use from its
    official URL (or the release mirror: ``mirror``, else ``$OVP_RELEASE_MIRROR``) with a
    progress bar and its SHA-256 verified.

    Raises:
        ValueError: ``model_type`` has no official release (``tiny``).
        WeightsNotFoundError: not cached and no download possible now, with the fix.
        ChecksumMismatchError: the file's hash is not the official one.
    """
    if model_type not in SAM_CHECKPOINT_URLS:
        raise ValueError(f'SAM {model_type!r} has no official checkpoint; official sizes: '
                         f'{sorted(SAM_CHECKPOINT_URLS)}')
    return fetch_release_file(
        SAM_CHECKPOINT_URLS[model_type], cache_dir or sam_cache_dir(),
        what=f'the official SAM {model_type} checkpoint',
        fix=(f'run `python tools/download_weights.py --sam {model_type}` on a machine with '
             'internet and copy the file here, or pass a local file with '
             '`--sam-checkpoint PATH`'),
        expected_sha256=SAM_CHECKPOINT_SHA256[model_type], mirror=mirror)

# Architecture of every size: image encoder ViT, prompt / mask decoder (the official release).
_DECODER_DEFAULTS = dict(prompt_embed_dim=256, mask_in_chans=16, decoder_depth=2,
                         decoder_heads=8, decoder_mlp_dim=2048, iou_head_hidden_dim=256,
                         patch_size=16, window_size=14)
SAM_SIZES: dict[str, dict] = {
    'vit_b': dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11),
                  image_size=1024, **_DECODER_DEFAULTS),
    'vit_l': dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23),
                  image_size=1024, **_DECODER_DEFAULTS),
    'vit_h': dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31),
                  image_size=1024, **_DECODER_DEFAULTS),
    'tiny': dict(embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,), image_size=64,
                 prompt_embed_dim=32, mask_in_chans=4, decoder_depth=1, decoder_heads=2,
                 decoder_mlp_dim=32, iou_head_hidden_dim=16, patch_size=16, window_size=2),
}
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass
class SAMImageState:
    """One encoded image.

    Attributes:
        embeddings: (1, C, h, w) image-encoder output of the padded square input.
        original_size: (H, W) of the frame that prompts and masks live in (the image's size,
            unless ``set_image`` was told the image is a resized view of a larger original).
        input_size: (H', W') of the resized image inside the padded ``image_size`` square.
        last_qkv: with ``keep_qkv``, the last encoder block's (3, heads, h', w', head_dim)
            queries, keys and values over the valid (un-padded) token grid; else None.
        full_qkv: with ``keep_qkv``, the same over the whole padded grid (3, heads, G, G, d)
            (what :meth:`SAMWrapper.last_block_attention` needs).
        high_res: SAM 2 only: its two higher-resolution feature maps (strides 4 and 8) that
            the SAM 2 mask decoder reads; None for SAM.
    """

    embeddings: Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    last_qkv: Tensor | None = field(default=None, repr=False)
    full_qkv: Tensor | None = field(default=None, repr=False)
    high_res: list[Tensor] | None = field(default=None, repr=False)


@dataclass
class SAMMasks:
    """SAM's answer to N prompts with M masks each.

    Attributes:
        masks: (N, M, H, W) bool at the original image size.
        iou_scores: (N, M) predicted IoU of each mask.
        low_res_logits: (N, M, 4h, 4w) logits (256 x 256 for the official sizes), usable as
            ``mask_inputs`` of a next ``predict``.
        logits: (N, M, H, W) float logits at the original size (``return_logits=True`` only).
    """

    masks: Tensor
    iou_scores: Tensor
    low_res_logits: Tensor
    logits: Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.masks.shape[0])


def sam_missing_checkpoint_message(model_type: str, checkpoint: str) -> str:
    """Explain where a SAM checkpoint comes from and how to pass it."""
    url = SAM_CHECKPOINT_URLS.get(model_type)
    source = (f'download the official {model_type} checkpoint from {url}'
              if url else 'save the tiny model\'s state_dict with torch.save')
    official = (f'pass `--sam-checkpoint official` (config: checkpoint=\'official\') to use '
                f'the cached official file or download it, or ' if url else '')
    return (f'SAM checkpoint file not found: {checkpoint!r}. Fix: {official}{source} and pass '
            f'it with `--sam-checkpoint PATH` (config: checkpoint=PATH).')


def build_sam(spec: dict) -> nn.Module:
    """Build a randomly initialised ``segment_anything`` ``Sam`` from a size spec.

    Args:
        spec: one of :data:`SAM_SIZES`, possibly with overridden entries.
    """
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)
    image_size, patch = int(spec['image_size']), int(spec['patch_size'])
    if image_size % patch:
        raise ValueError(f'SAM image_size {image_size} must be a multiple of the patch size '
                         f'{patch}')
    grid = image_size // patch
    embed = int(spec['prompt_embed_dim'])
    encoder = ImageEncoderViT(
        img_size=image_size, patch_size=patch, embed_dim=int(spec['embed_dim']),
        depth=int(spec['depth']), num_heads=int(spec['num_heads']), mlp_ratio=4,
        out_chans=embed, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
        use_rel_pos=True, window_size=int(spec['window_size']),
        global_attn_indexes=tuple(spec['global_attn_indexes']))
    prompt_encoder = PromptEncoder(embed_dim=embed, image_embedding_size=(grid, grid),
                                   input_image_size=(image_size, image_size),
                                   mask_in_chans=int(spec['mask_in_chans']))
    decoder = MaskDecoder(
        num_multimask_outputs=3, transformer_dim=embed,
        transformer=TwoWayTransformer(depth=int(spec['decoder_depth']), embedding_dim=embed,
                                      mlp_dim=int(spec['decoder_mlp_dim']),
                                      num_heads=int(spec['decoder_heads'])),
        iou_head_depth=3, iou_head_hidden_dim=int(spec['iou_head_hidden_dim']))
    return Sam(image_encoder=encoder, prompt_encoder=prompt_encoder, mask_decoder=decoder,
               pixel_mean=list(SAM_PIXEL_MEAN), pixel_std=list(SAM_PIXEL_STD)).eval()


def resized_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """SAM's ``ResizeLongestSide`` output size: the longest side becomes ``long_side``."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_like_sam(pixels: Tensor, size: tuple[int, int]) -> Tensor:
    """(3, H, W) 0..255 RGB -> (3, h, w) resized as the official ``SamPredictor.set_image``
    does (``ResizeLongestSide.apply_image``): rounded to uint8, PIL bilinear, uint8 result."""
    from PIL import Image
    array = pixels.detach().round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    resized = Image.fromarray(array).resize((int(size[1]), int(size[0])), Image.BILINEAR)
    return torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1).to(
        device=pixels.device, dtype=torch.float32)


def image_to_tensor(image: np.ndarray | Tensor) -> Tensor:
    """(H, W, 3) uint8 RGB array or (3, H, W) float 0..255 tensor -> (3, H, W) float32."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) RGB array, got shape {image.shape}')
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f'expected a (3, H, W) tensor, got shape {tuple(image.shape)}')
    return image.float()


def image_digest(pixels: Tensor) -> str:
    """Content hash of an image tensor (shape, dtype and bytes)."""
    data = pixels.detach().to('cpu', torch.float32).contiguous()
    digest = hashlib.sha1(str(tuple(data.shape)).encode())
    digest.update(data.numpy().tobytes())
    return digest.hexdigest()


@MODELS.register_module()
class SAMWrapper(nn.Module):
    """Segment Anything with a small, prompt-batched interface (frozen, eval mode).

    Args:
        model_type: ``'vit_b'`` / ``'vit_l'`` / ``'vit_h'`` (official sizes) or ``'tiny'``
            (random test model).
        checkpoint: local state-dict file (official release or a saved wrapper);
            ``'official'``: the official release of ``model_type``, from
            :func:`sam_cache_dir` or downloaded there on first use (SHA-256 checked);
            ``None`` keeps the random initialisation.
        image_size: side of SAM's square input (default: 1024, tiny: 64). Official weights
            need 1024.
        tiny_kwargs: overrides of the ``tiny`` size spec (e.g. ``embed_dim``, ``depth``).
        mask_threshold: logit threshold of the binary masks (SAM: 0).
        prompt_batch_size: prompts decoded at once in ``predict`` (bounds memory).
    """

    def __init__(self, model_type: str = 'vit_b', checkpoint: str | None = None,
                 image_size: int | None = None, tiny_kwargs: dict | None = None, *,
                 mask_threshold: float = 0.0, prompt_batch_size: int = 64) -> None:
        super().__init__()
        if model_type not in SAM_SIZES:
            raise ValueError(f'unknown SAM model_type {model_type!r}; choose from '
                             f'{sorted(SAM_SIZES)}')
        if tiny_kwargs and model_type != 'tiny':
            raise ValueError('tiny_kwargs only apply to model_type="tiny"')
        if checkpoint == OFFICIAL_CHECKPOINT:
            checkpoint = official_sam_checkpoint(model_type)
        if checkpoint is not None and not os.path.isfile(checkpoint):
            # Fail before building (a ViT-H takes seconds to initialise).
            raise WeightsNotFoundError(sam_missing_checkpoint_message(model_type, checkpoint))
        spec = dict(SAM_SIZES[model_type], **(tiny_kwargs or {}))
        if image_size is not None:
            spec['image_size'] = int(image_size)
        self.model_type = model_type
        self.image_size = int(spec['image_size'])
        self.mask_threshold = float(mask_threshold)
        self.prompt_batch_size = int(prompt_batch_size)
        self.model = build_sam(spec)
        self._cached: tuple[tuple, SAMImageState] | None = None
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)
        self.model.requires_grad_(False)

    # ------------------------------------------------------------------ weights
    def clear_cache(self) -> None:
        """Forget the remembered image state."""
        self._cached = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self.clear_cache()  # new weights: a remembered encoding is stale
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .half(): drop the cache
        self.clear_cache()
        return super()._apply(fn, *args, **kwargs)

    def load_checkpoint(self, path: str) -> None:
        """Load a local state dict (strict keys and shapes, ``weights_only=True``).

        Raises:
            WeightsNotFoundError: ``path`` is not a file (message names the official URL).
            CheckpointMismatchError: keys or shapes differ from this architecture.
        """
        if not os.path.isfile(path):
            raise WeightsNotFoundError(sam_missing_checkpoint_message(self.model_type, path))
        expected = self.model.state_dict()
        state = align_prefixes(load_state_dict_file(path), expected, prefixes=('model.',))
        check_state_dict(expected, state, f'SAM {self.model_type}', path)
        self.model.load_state_dict(state, strict=True)
        self.clear_cache()

    def train(self, mode: bool = True) -> 'SAMWrapper':
        """SAM stays frozen in eval mode."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.model.pixel_mean.device

    @property
    def patch_size(self) -> int:
        return int(self.model.image_encoder.patch_embed.proj.kernel_size[0])

    @property
    def mask_input_size(self) -> tuple[int, int]:
        """Size of the low-resolution mask logits (256 x 256 for official sizes)."""
        return tuple(self.model.prompt_encoder.mask_input_size)

    # ------------------------------------------------------------------ image
    @torch.no_grad()
    def set_image(self, image: np.ndarray | Tensor, original_size: tuple[int, int] | None = None,
                  keep_qkv: bool = False) -> SAMImageState:
        """Encode one image (the expensive step; done once per image).

        The last encoded image is remembered: calling again with the same pixels and options
        returns the same state without running the encoder (e.g. one image, many
        vocabularies).

        Args:
            image: (H, W, 3) uint8 RGB array or (3, H, W) float RGB tensor in 0..255.
            original_size: (H0, W0) when ``image`` is a resized view of a larger original:
                prompts are then given, and masks returned, in the original's pixels.
            keep_qkv: keep the last encoder block's queries / keys / values
                (:attr:`SAMImageState.last_qkv`, used by Trident's aggregation).

        Returns:
            The image state for ``predict`` / ``image_features`` / ``automatic_masks``.
        """
        pixels = image_to_tensor(image).to(self.device)
        if min(pixels.shape[1:]) < 1:
            raise ValueError(f'empty image of size {tuple(pixels.shape[1:])}')
        original = tuple(int(v) for v in (original_size or pixels.shape[1:]))[:2]
        key = (image_digest(pixels), original, keep_qkv)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        input_size = resized_size(int(pixels.shape[1]), int(pixels.shape[2]), self.image_size)
        resized = resize_like_sam(pixels, input_size)[None]
        captured: list[Tensor] = []
        hook = (self.model.image_encoder.blocks[-1].attn.qkv.register_forward_hook(
            lambda module, args, output: captured.append(output)) if keep_qkv else None)
        try:
            embeddings = self.model.image_encoder(self.model.preprocess(resized))
        finally:
            if hook is not None:
                hook.remove()
        full_qkv = self._split_qkv(captured[0], None) if keep_qkv else None
        state = SAMImageState(embeddings=embeddings, original_size=original,
                              input_size=input_size,
                              last_qkv=self._split_qkv(captured[0], input_size) if keep_qkv
                              else None, full_qkv=full_qkv)
        self._cached = (key, state)
        return state

    def _split_qkv(self, qkv: Tensor, input_size: tuple[int, int] | None) -> Tensor:
        """(1, h, w, 3 * dim) last-block qkv output -> (3, heads, h', w', head_dim) valid part
        (the whole grid when ``input_size`` is None)."""
        attention = self.model.image_encoder.blocks[-1].attn
        if self.model.image_encoder.blocks[-1].window_size > 0:
            raise ValueError('keep_qkv needs a global-attention last block (all official sizes '
                             'have one)')
        _, height, width, channels = qkv.shape
        heads = attention.num_heads
        qkv = qkv.reshape(height, width, 3, heads, channels // 3 // heads)
        valid_h, valid_w = (height, width) if input_size is None else self.valid_grid(input_size)
        return qkv.permute(2, 3, 0, 1, 4)[:, :, :valid_h, :valid_w].contiguous()

    def last_block_attention(self, state: SAMImageState, grid: tuple[int, int],
                             head: int) -> Tensor:
        """One head's softmax attention of the last encoder block, as SAM computes it: over
        the whole padded grid, with the block's decomposed relative-position terms; then
        restricted to the rows and columns of the top-left ``grid`` (n = h * w tokens).

        Returns:
            (n, n) float32 attention (rows no longer sum to one).
        """
        from segment_anything.modeling.image_encoder import add_decomposed_rel_pos
        if state.full_qkv is None:
            raise ValueError('the SAM state has no last-block qkv: encode with keep_qkv=True')
        attention = self.model.image_encoder.blocks[-1].attn
        _, _, size_h, size_w, dim = state.full_qkv.shape
        q = state.full_qkv[0, head].reshape(1, size_h * size_w, dim).float()
        k = state.full_qkv[1, head].reshape(1, size_h * size_w, dim).float()
        logits = (q * attention.scale) @ k.transpose(-2, -1)
        if attention.use_rel_pos:
            logits = add_decomposed_rel_pos(logits, q, attention.rel_pos_h.float(),
                                            attention.rel_pos_w.float(), (size_h, size_w),
                                            (size_h, size_w))
        probs = logits.softmax(dim=-1).reshape(size_h, size_w, size_h, size_w)
        height, width = grid
        return probs[:height, :width, :height, :width].reshape(height * width, height * width)

    def valid_grid_floor(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """Token grid ``input_size // patch`` (Trident's valid grid: a partial patch dropped)."""
        return input_size[0] // self.patch_size, input_size[1] // self.patch_size

    def valid_grid(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """Token grid (h', w') covering the resized image (the padding excluded)."""
        return (math.ceil(input_size[0] / self.patch_size),
                math.ceil(input_size[1] / self.patch_size))

    @property
    def last_block_scale(self) -> float:
        """Softmax scale ``head_dim ** -0.5`` of the last encoder block."""
        return float(self.model.image_encoder.blocks[-1].attn.scale)

    def image_features(self, state: SAMImageState) -> Tensor:
        """(C, h, w) encoder features of the valid image area (the padding cropped off).

        ``h = ceil(H' / patch)``, ``w = ceil(W' / patch)`` for the resized size ``(H', W')``.
        """
        height, width = self.valid_grid(state.input_size)
        return state.embeddings[0, :, :height, :width]

    # ------------------------------------------------------------------ prompts
    def _to_input_frame(self, coords: Tensor, state: SAMImageState) -> Tensor:
        """(..., 2) xy in original pixels -> xy in the resized input frame."""
        (old_h, old_w), (new_h, new_w) = state.original_size, state.input_size
        scale = coords.new_tensor([new_w / old_w, new_h / old_h])
        return coords.float() * scale

    def _num_prompts(self, points: Tensor | None, point_labels: Tensor | None,
                     boxes: Tensor | None, mask_inputs: Tensor | None) -> int:
        counts = {name: int(t.shape[0]) for name, t in
                  (('points', points), ('boxes', boxes), ('mask_inputs', mask_inputs))
                  if t is not None}
        if points is not None:
            if point_labels is None:
                raise ValueError('points need point_labels (1 foreground, 0 background)')
            if points.dim() != 3 or points.shape[-1] != 2:
                raise ValueError(f'points must be (N, P, 2), got {tuple(points.shape)}')
            if tuple(point_labels.shape) != tuple(points.shape[:2]):
                raise ValueError(f'point_labels must be (N, P) = {tuple(points.shape[:2])}, '
                                 f'got {tuple(point_labels.shape)}')
        if boxes is not None and (boxes.dim() != 2 or boxes.shape[-1] != 4):
            raise ValueError(f'boxes must be (N, 4), got {tuple(boxes.shape)}')
        if mask_inputs is not None and (mask_inputs.dim() != 4 or mask_inputs.shape[1] != 1):
            raise ValueError(f'mask_inputs must be (N, 1, h, w), got '
                             f'{tuple(mask_inputs.shape)}')
        if not counts:
            raise ValueError('predict needs at least one of points, boxes, mask_inputs')
        if len(set(counts.values())) > 1:
            raise ValueError(f'prompt counts differ: {counts}')
        return next(iter(counts.values()))

    @torch.no_grad()
    def _decode(self, state: SAMImageState, points: Tensor | None, point_labels: Tensor | None,
                boxes: Tensor | None, mask_inputs: Tensor | None,
                multimask: bool) -> tuple[Tensor, Tensor]:
        """Prompt batch -> (N, M, 4h, 4w) low-res logits and (N, M) IoU predictions."""
        device = self.device
        point_pair = None
        if points is not None:
            point_pair = (self._to_input_frame(points.to(device), state),
                          point_labels.to(device=device, dtype=torch.int64))
        if boxes is not None:
            boxes = self._to_input_frame(boxes.to(device).reshape(-1, 2, 2), state)
            boxes = boxes.reshape(-1, 4)
        if mask_inputs is not None:
            mask_inputs = mask_inputs.to(device=device, dtype=torch.float32)
            if tuple(mask_inputs.shape[-2:]) != self.mask_input_size:
                mask_inputs = F.interpolate(mask_inputs, size=self.mask_input_size,
                                            mode='bilinear', align_corners=False)
        sparse, dense = self.model.prompt_encoder(points=point_pair, boxes=boxes,
                                                  masks=mask_inputs)
        low_res, iou = self.model.mask_decoder(
            image_embeddings=state.embeddings, image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=multimask)
        return low_res, iou

    def to_mask_input(self, maps: Tensor, state: SAMImageState, fill: float = -20.0) -> Tensor:
        """Logit maps covering the whole image -> SAM's low-res mask-prompt frame.

        Args:
            maps: (N, h, w) logits over the full image at any resolution.
            state: the image's state (gives the resized size inside the padded square).
            fill: logit of the padding (SAM's frame is a square; the image fills its top-left).

        Returns:
            (N, 1, mh, mw) mask inputs (256 x 256 for official sizes).
        """
        frame_h, frame_w = self.mask_input_size
        target = (max(1, round(state.input_size[0] * frame_h / self.image_size)),
                  max(1, round(state.input_size[1] * frame_w / self.image_size)))
        resized = F.interpolate(maps[:, None].float().to(self.device), size=target,
                                mode='bilinear', align_corners=False)
        return F.pad(resized, (0, frame_w - target[1], 0, frame_h - target[0]), value=fill)

    def upscale_logits(self, low_res: Tensor, state: SAMImageState) -> Tensor:
        """(N, M, h, w) low-res logits -> (N, M, H, W) logits at the original image size."""
        if low_res.shape[0] == 0:
            return low_res.new_zeros((*low_res.shape[:2], *state.original_size))
        logits = F.interpolate(low_res, size=(self.image_size, self.image_size),
                               mode='bilinear', align_corners=False)
        logits = logits[..., :state.input_size[0], :state.input_size[1]]
        return F.interpolate(logits, size=state.original_size, mode='bilinear',
                             align_corners=False)

    @torch.no_grad()
    def predict(self, state: SAMImageState, points: Tensor | None = None,
                point_labels: Tensor | None = None, boxes: Tensor | None = None,
                mask_inputs: Tensor | None = None, multimask: bool = False,
                return_logits: bool = False) -> SAMMasks:
        """Masks for N prompts (each prompt may combine points, a box and a mask).

        Args:
            state: from :meth:`set_image`.
            points: (N, P, 2) xy in original-image pixels.
            point_labels: (N, P), 1 foreground / 0 background.
            boxes: (N, 4) xyxy in original-image pixels.
            mask_inputs: (N, 1, h, w) low-res logits (resized to :attr:`mask_input_size`).
            multimask: three masks per prompt (M = 3) instead of one (M = 1).
            return_logits: also keep the (N, M, H, W) float logits in ``SAMMasks.logits``.

        Returns:
            :class:`SAMMasks`; N = 0 prompts give empty tensors.
        """
        num = self._num_prompts(points, point_labels, boxes, mask_inputs)
        num_masks = 3 if multimask else 1
        height, width = state.original_size
        if num == 0:
            empty = torch.zeros((0, num_masks, height, width), device=self.device)
            return SAMMasks(masks=empty.bool(), iou_scores=empty.new_zeros((0, num_masks)),
                            low_res_logits=empty.new_zeros((0, num_masks,
                                                            *self.mask_input_size)),
                            logits=empty if return_logits else None)
        masks, ious, lows, all_logits = [], [], [], []
        for start in range(0, num, self.prompt_batch_size):
            part = slice(start, start + self.prompt_batch_size)
            low_res, iou = self._decode(
                state, None if points is None else points[part],
                None if point_labels is None else point_labels[part],
                None if boxes is None else boxes[part],
                None if mask_inputs is None else mask_inputs[part], multimask)
            logits = self.upscale_logits(low_res, state)
            masks.append(logits > self.mask_threshold)
            ious.append(iou)
            lows.append(low_res)
            if return_logits:
                all_logits.append(logits)
        return SAMMasks(masks=torch.cat(masks), iou_scores=torch.cat(ious),
                        low_res_logits=torch.cat(lows),
                        logits=torch.cat(all_logits) if return_logits else None)

    # ------------------------------------------------------------------ everything
    @torch.no_grad()
    def automatic_masks(self, state: SAMImageState, points_per_side: int = 32,
                        points_per_batch: int = 64, pred_iou_thresh: float = 0.88,
                        stability_score_thresh: float = 0.95, box_nms_thresh: float = 0.7,
                        min_area: int = 0, stability_score_offset: float = 1.0) -> list[dict]:
        """Segment everything: one foreground point per grid cell, three masks per point.

        Masks are kept when their predicted IoU and stability score pass the thresholds and
        their area is at least ``min_area``; duplicates are removed by box NMS (ranked by
        predicted IoU).

        Returns:
            One dict per mask, best first: ``segmentation`` (H, W) bool array, ``bbox`` xyxy
            (inclusive ends), ``area``, ``predicted_iou``, ``stability_score``,
            ``point_coords`` ([[x, y]] in original pixels).
        """
        height, width = state.original_size
        grid = point_grid(points_per_side) * torch.tensor([width, height])
        kept_masks, kept_iou, kept_stability, kept_points = [], [], [], []
        for start in range(0, grid.shape[0], points_per_batch):
            points = grid[start:start + points_per_batch].to(self.device)
            low_res, iou = self._decode(state, points[:, None], torch.ones(
                points.shape[0], 1, dtype=torch.int64, device=self.device), None, None, True)
            logits = self.upscale_logits(low_res, state).flatten(0, 1)  # (B*3, H, W)
            iou = iou.flatten()
            stability = stability_score(logits, self.mask_threshold, stability_score_offset)
            masks = logits > self.mask_threshold
            keep = ((iou > pred_iou_thresh) & (stability >= stability_score_thresh)
                    & (masks.flatten(1).sum(1) >= max(min_area, 1)))
            kept_masks.append(masks[keep])
            kept_iou.append(iou[keep])
            kept_stability.append(stability[keep])
            kept_points.append(points.repeat_interleave(3, dim=0)[keep])
        masks = torch.cat(kept_masks)
        if masks.shape[0] == 0:
            return []
        iou, stability, points = torch.cat(kept_iou), torch.cat(kept_stability), \
            torch.cat(kept_points)
        boxes = masks_to_boxes(masks)
        keep = batched_nms(boxes.float(), iou.float(), torch.zeros_like(iou, dtype=torch.int64),
                           box_nms_thresh)
        return [dict(segmentation=masks[i].cpu().numpy(), bbox=boxes[i].tolist(),
                     area=int(masks[i].sum()), predicted_iou=float(iou[i]),
                     stability_score=float(stability[i]), point_coords=[points[i].tolist()])
                for i in keep.tolist()]

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f'model_type={self.model_type!r}, image_size={self.image_size}'
