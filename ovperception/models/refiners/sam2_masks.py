"""Segment Anything 2 (Ravi et al., 2024) from the ``sam2`` package: the only importer of it.

:class:`SAM2MaskGenerator` builds a SAM 2 image model from the package's own Hydra config files
(``configs/sam2/sam2_hiera_{t,s,b+,l}.yaml``, ``configs/sam2.1/...``; tests shrink them with
``overrides``), loads the official checkpoint strictly (a local file, or ``'official'``: cached,
else downloaded on first use from the release URL), and turns the package's automatic mask
generator ("segment everything") into one map of region ids, as CorrCLIP does.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from ovperception.models.clip.weights import (WeightsNotFoundError, check_state_dict,
                                              read_checkpoint)
from ovperception.models.refiners.sam import sam_cache_dir
from ovperception.registry import MODELS
from ovperception.utils.download import fetch_release_file
from ovperception.utils.sam_release import OFFICIAL_CHECKPOINT, SAM2_CHECKPOINT_URLS

#: Hydra overrides of a tiny random SAM 2 (Hiera with 8 channels, 256-pixel input) for tests
#: and smoke runs; apply them to ``configs/sam2/sam2_hiera_t.yaml``.
TINY_SAM2_OVERRIDES = (
    '++model.image_size=256',
    '++model.image_encoder.trunk.embed_dim=8',
    '++model.image_encoder.trunk.num_heads=1',
    '++model.image_encoder.trunk.stages=[1,1,2,1]',
    '++model.image_encoder.trunk.global_att_blocks=[3]',
    '++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[2,2]',
    '++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]',
    '++model.image_encoder.neck.d_model=32',
    '++model.memory_attention.d_model=32',
    '++model.memory_attention.layer.d_model=32',
    '++model.memory_attention.layer.self_attention.embedding_dim=32',
    '++model.memory_attention.layer.cross_attention.embedding_dim=32',
    '++model.memory_attention.layer.cross_attention.kv_in_dim=16',
    '++model.memory_encoder.out_dim=16',
    '++model.memory_encoder.mask_downsampler.embed_dim=32',
    '++model.memory_encoder.fuser.layer.dim=32',
    '++model.memory_encoder.position_encoding.num_pos_feats=16',
)

#: Named override sets (``overrides='tiny'`` in configs).
OVERRIDE_PRESETS = {'tiny': TINY_SAM2_OVERRIDES}


def official_sam2_checkpoint(config: str, cache_dir: str | None = None,
                             mirror: str | None = None) -> str:
    """Local path of the official checkpoint of ``config``, downloaded on first use from its
    release URL, or from the release mirror (``mirror``, else ``$OVP_RELEASE_MIRROR``) when
    one is set, through the same path as SAM's
    (:func:`~ovperception.utils.download.fetch_release_file`). Meta publishes no checksums
    of these files: the first download's SHA-256 and size are recorded next to it and every
    later use is checked against them.

    Raises:
        ValueError: ``config`` has no official release.
        WeightsNotFoundError: not cached and no download possible now, with the fix.
    """
    if config not in SAM2_CHECKPOINT_URLS:
        raise ValueError(f'SAM 2 config {config!r} has no official checkpoint; official '
                         f'configs: {sorted(SAM2_CHECKPOINT_URLS)}')
    return fetch_release_file(
        SAM2_CHECKPOINT_URLS[config], cache_dir or sam_cache_dir(),
        what=f'the official SAM 2 checkpoint of {config}',
        fix=(f'run `python tools/download_weights.py --sam2 {config}` on a machine with '
             'internet and copy the file here, or pass a local file as checkpoint=PATH'),
        mirror=mirror)


def build_sam2_model(config: str, checkpoint: str | None,
                     overrides: Sequence[str] | str = ()) -> nn.Module:
    """A SAM 2 model from a ``sam2`` config file; weights checked key by key.

    Args:
        config: config file inside the ``sam2`` package (e.g. ``configs/sam2/sam2_hiera_l.yaml``).
        checkpoint: None (random), a local file (the official ``{'model': state}`` layout or a
            bare state dict) or ``'official'``.
        overrides: Hydra overrides (``++model.image_size=256``, ...) or the name of a preset
            of :data:`OVERRIDE_PRESETS` (``'tiny'``).
    """
    from sam2.build_sam import build_sam2
    if isinstance(overrides, str):
        if overrides not in OVERRIDE_PRESETS:
            raise ValueError(f'unknown SAM 2 override preset {overrides!r}; presets: '
                             f'{sorted(OVERRIDE_PRESETS)}')
        overrides = OVERRIDE_PRESETS[overrides]
    path = None
    if checkpoint == OFFICIAL_CHECKPOINT:
        path = official_sam2_checkpoint(config)
    elif checkpoint:
        if not os.path.isfile(checkpoint):
            raise WeightsNotFoundError(
                f'SAM 2 checkpoint file not found: {checkpoint!r}. Fix: pass the official file '
                f'({SAM2_CHECKPOINT_URLS.get(config, "see the sam2 README")}) or '
                "checkpoint='official' to download it on first use.")
        path = checkpoint
    model = build_sam2(config, None, device='cpu', hydra_overrides_extra=list(overrides),
                       apply_postprocessing=False)
    if path is not None:
        raw = read_checkpoint(path)
        state = raw['model'] if isinstance(raw, dict) and isinstance(raw.get('model'), dict) \
            else raw
        check_state_dict(model.state_dict(), state, f'SAM 2 {config}', path)
        model.load_state_dict(state, strict=True)
    print_log(f'SAM 2 {config}: weights {path or "random init (no pretrained weights)"}',
              logger='current', level=logging.INFO if path else logging.WARNING)
    return model.eval()


@MODELS.register_module()
class SAM2MaskGenerator(nn.Module):
    """Class-agnostic region ids from SAM 2's automatic mask generator (CorrCLIP's regions).

    Masks are painted from the smallest to the largest area with ids 1, 2, ...; pixels no mask
    covers keep id 0 (a larger mask overwrites a smaller one where they overlap: the official
    CorrCLIP order).

    Args:
        config: ``sam2`` package config file (official CorrCLIP: ``sam2_hiera_l.yaml``).
        checkpoint: None (random), a local file or ``'official'`` (first-use download).
        overrides: Hydra overrides of the config, or a preset name (``'tiny'``:
            :data:`TINY_SAM2_OVERRIDES`, for tests).
        points_per_side, pred_iou_thresh, stability_score_thresh, multimask_output: the
            automatic mask generator's settings (official CorrCLIP online: 8, 0.4, 0.4, False).
        generator_kwargs: further ``SAM2AutomaticMaskGenerator`` arguments.
    """

    def __init__(self, config: str = 'configs/sam2/sam2_hiera_l.yaml',
                 checkpoint: str | None = OFFICIAL_CHECKPOINT, *,
                 overrides: Sequence[str] | str = (), points_per_side: int = 8,
                 pred_iou_thresh: float = 0.4, stability_score_thresh: float = 0.4,
                 multimask_output: bool = False, generator_kwargs: dict | None = None) -> None:
        super().__init__()
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
        self.model = build_sam2_model(config, checkpoint, overrides)
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.generator = SAM2AutomaticMaskGenerator(
            model=self.model, points_per_side=points_per_side, pred_iou_thresh=pred_iou_thresh,
            stability_score_thresh=stability_score_thresh, multimask_output=multimask_output,
            **(generator_kwargs or {}))
        size = int(self.model.image_size)  # the predictor assumes 1024; follow the model's
        self.generator.predictor._bb_feat_sizes = [(size // 4, size // 4),
                                                   (size // 8, size // 8),
                                                   (size // 16, size // 16)]

    def train(self, mode: bool = True) -> SAM2MaskGenerator:
        """Always in eval mode (frozen)."""
        return super().train(False)

    @torch.no_grad()
    def masks(self, image: Tensor) -> list[dict]:
        """The generator's masks (``segmentation``, ``area``, ...) of a (3, H, W) 0..255 image."""
        pixels = image.detach().round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
        return self.generator.generate(np.ascontiguousarray(pixels.cpu().numpy()))

    def region_ids(self, image: Tensor, sample=None) -> Tensor:
        """(H0, W0) int64 region ids of a (3, H, W) 0..255 RGB image, at the sample's
        ``ori_shape`` (nearest-resized from the image's size) or the image's size."""
        height, width = image.shape[-2:]
        ids = torch.zeros(height, width, dtype=torch.long)
        for index, mask in enumerate(sorted(self.masks(image), key=lambda m: m['area']), 1):
            ids[torch.from_numpy(np.asarray(mask['segmentation'], dtype=bool))] = index
        size = tuple(sample.metainfo.get('ori_shape', (height, width)))[:2] if sample is not None \
            else (height, width)
        if size != (height, width):
            ids = F.interpolate(ids[None, None].float(), size=size, mode='nearest')[0, 0].long()
        return ids.to(image.device)
