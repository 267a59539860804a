"""SAM 2's image model behind the :class:`~ovperception.models.refiners.sam.SAMWrapper`
interface: a drop-in, lighter SAM (Hiera tiny / small image encoders) for the SAM refiner,
zero-shot counting, PseCo-style proposals and Trident's final refinement.

SAM 2 resizes every image to its square input (no aspect-preserving padding), adds its
"no memory" embedding to the image embedding and decodes masks with two extra high-resolution
feature maps; prompts, low-resolution logits and outputs otherwise follow SAM's conventions
(``SAM2ImagePredictor``), so the shared prompt handling, ``predict`` and ``automatic_masks`` of
``SAMWrapper`` serve both.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.refiners.sam import SAMImageState, SAMWrapper, image_digest, \
    image_to_tensor
from ovperception.models.refiners.sam2_masks import OFFICIAL_CHECKPOINT, build_sam2_model
from ovperception.registry import MODELS

#: Short names of the official SAM 2.1 image models (``config=`` accepts them).
SAM2_SIZES = {'hiera_t': 'configs/sam2.1/sam2.1_hiera_t.yaml',
              'hiera_s': 'configs/sam2.1/sam2.1_hiera_s.yaml',
              'hiera_b+': 'configs/sam2.1/sam2.1_hiera_b+.yaml',
              'hiera_l': 'configs/sam2.1/sam2.1_hiera_l.yaml'}


@MODELS.register_module()
class SAM2Wrapper(SAMWrapper):
    """SAM 2 with SAM's small, prompt-batched interface (frozen, eval mode).

    Args:
        config: a ``sam2`` package config file or a short name of :data:`SAM2_SIZES`
            (``'hiera_t'``, ``'hiera_s'``: the light encoders).
        checkpoint: None (random), a local file or ``'official'`` (first-use download).
        overrides: Hydra overrides or a preset (``'tiny'``: a tiny random model for tests).
        mask_threshold, prompt_batch_size: as :class:`SAMWrapper`.
    """

    def __init__(self, config: str = 'hiera_t', checkpoint: str | None = OFFICIAL_CHECKPOINT,
                 *, overrides=(), mask_threshold: float = 0.0,
                 prompt_batch_size: int = 64) -> None:
        nn.Module.__init__(self)
        self.model_type = config
        config = SAM2_SIZES.get(config, config)
        self.model = build_sam2_model(config, checkpoint, overrides)
        self.model.requires_grad_(False)
        self.image_size = int(self.model.image_size)
        self.mask_threshold = float(mask_threshold)
        self.prompt_batch_size = int(prompt_batch_size)
        self.checkpoint = checkpoint
        self._cached = None
        self.register_buffer('pixel_mean', torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
                             * 255.0, persistent=False)
        self.register_buffer('pixel_std', torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
                             * 255.0, persistent=False)

    def load_checkpoint(self, path: str) -> None:  # weights are loaded by build_sam2_model
        raise NotImplementedError('SAM2Wrapper loads its checkpoint when built (checkpoint=)')

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def patch_size(self) -> int:
        """Stride of the image embedding (16)."""
        return int(self.model.backbone_stride)

    @property
    def mask_input_size(self) -> tuple[int, int]:
        return tuple(self.model.sam_prompt_encoder.mask_input_size)

    @torch.no_grad()
    def set_image(self, image: np.ndarray | Tensor, original_size: tuple[int, int] | None = None,
                  keep_qkv: bool = False) -> SAMImageState:
        """Encode one image (resized to SAM 2's square input, ImageNet-normalised)."""
        if keep_qkv:
            raise NotImplementedError(
                "SAM 2's Hiera encoder has no global last-block attention to aggregate with "
                '(Trident / SAM affinity need SAM ViT: SAMWrapper); use SAM 2 for refinement')
        pixels = image_to_tensor(image).to(self.device)
        if min(pixels.shape[1:]) < 1:
            raise ValueError(f'empty image of size {tuple(pixels.shape[1:])}')
        original = tuple(int(v) for v in (original_size or pixels.shape[1:]))[:2]
        key = (image_digest(pixels), original, False)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        size = (self.image_size, self.image_size)
        resized = F.interpolate(pixels[None].float(), size=size, mode='bilinear',
                                align_corners=False)
        normalised = (resized - self.pixel_mean) / self.pixel_std
        _, feats, _, sizes = self.model._prepare_backbone_features(
            self.model.forward_image(normalised))
        if self.model.directly_add_no_mem_embed:
            feats[-1] = feats[-1] + self.model.no_mem_embed
        maps = [feat.permute(1, 2, 0).reshape(1, -1, *hw) for feat, hw in zip(feats, sizes)]
        state = SAMImageState(embeddings=maps[-1], original_size=original, input_size=size,
                              high_res=maps[:-1])
        self._cached = (key, state)
        return state

    @torch.no_grad()
    def _decode(self, state: SAMImageState, points: Tensor | None, point_labels: Tensor | None,
                boxes: Tensor | None, mask_inputs: Tensor | None,
                multimask: bool) -> tuple[Tensor, Tensor]:
        """Prompt batch -> (N, M, 4h, 4w) low-res logits and (N, M) IoU predictions; a box is
        two corner points labelled 2 and 3 placed before the points (SAM 2's encoding)."""
        device = self.device
        coords, labels = [], []
        if boxes is not None:
            coords.append(self._to_input_frame(boxes.to(device).reshape(-1, 2, 2), state))
            labels.append(torch.tensor([[2, 3]], device=device).expand(boxes.shape[0], -1))
        if points is not None:
            coords.append(self._to_input_frame(points.to(device), state))
            labels.append(point_labels.to(device=device, dtype=torch.int64))
        point_pair = (torch.cat(coords, 1), torch.cat(labels, 1)) if coords else None
        if mask_inputs is not None:
            mask_inputs = mask_inputs.to(device=device, dtype=torch.float32)
            if tuple(mask_inputs.shape[-2:]) != self.mask_input_size:
                mask_inputs = F.interpolate(mask_inputs, size=self.mask_input_size,
                                            mode='bilinear', align_corners=False)
        sparse, dense = self.model.sam_prompt_encoder(points=point_pair, boxes=None,
                                                      masks=mask_inputs)
        count = sparse.shape[0]
        low_res, iou, _, _ = self.model.sam_mask_decoder(
            image_embeddings=state.embeddings,
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=multimask, repeat_image=count > 1,
            high_res_features=state.high_res)
        return low_res, iou

    def upscale_logits(self, low_res: Tensor, state: SAMImageState) -> Tensor:
        """(N, M, h, w) low-res logits -> (N, M, H, W) at the original size (one bilinear
        resize, as ``SAM2ImagePredictor``)."""
        if low_res.shape[0] == 0:
            return low_res.new_zeros((*low_res.shape[:2], *state.original_size))
        return F.interpolate(low_res, size=state.original_size, mode='bilinear',
                             align_corners=False)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return f'config={self.model_type!r}, image_size={self.image_size}'
