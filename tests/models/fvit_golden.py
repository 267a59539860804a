"""The tiny F-ViT of the golden fixtures (tests/fixtures/golden/fvit/NOTE.md): our config
of the same detector and the seeded official-layout weights."""
from __future__ import annotations

import math

import numpy as np
import torch

from tests.models.eva_golden import TINY_EVA_KWARGS, TINY_EVA_TIMM, read_layout

CLASSES = ['cat', 'dog', 'car', 'tree', 'cup', 'kite']
SEEN = ['cat', 'car', 'tree', 'kite']
_SKIP = ('num_batches_tracked', 'detect_temperature', 'all_embeddings', 'rope.')


def tiny_fvit_cfg(variant: str) -> dict:
    """Our FViT config of the harness's ``coco`` (RPN without norm) or ``lvis`` (RPN with
    norm, a mask head) tiny detector: 4-block EVA, width 64, embeddings of 32."""
    lvis = variant == 'lvis'
    cfg = dict(
        type='FViT',
        backbone=dict(type='OpenCLIPBackbone', model_name='EVA02-B-16', pretrained=None,
                      dense_mode='maskclip', model_kwargs=TINY_EVA_KWARGS,
                      timm_kwargs=dict(TINY_EVA_TIMM, depth=4)),
        out_indices=[0, 1, 2, 3],
        neck=dict(type='ViTSimplePyramid', in_channels=64, out_channels=32),
        rpn_head=dict(type='FViTRPNHead', in_channels=32, feat_channels=32, norm=lvis),
        box_head=dict(type='FViTBoxHead', in_channels=32, conv_channels=32, embed_dim=32),
        seen_classnames=SEEN, alpha=0.1, beta=0.6 if lvis else 0.8,
        vlm_temperature=50.0 if lvis else 75.0,
        test_cfg=dict(score_thr=0.0001 if lvis else 0.01, nms_iou=0.5 if lvis else 0.4,
                      max_per_img=300 if lvis else 100, mask_margin=1))
    if lvis:
        cfg['mask_head'] = dict(type='FViTMaskHead', in_channels=32, conv_channels=32)
    return cfg


def seeded_fvit_state(variant: str, class_embeddings: np.ndarray, seed: int = 0
                      ) -> dict[str, torch.Tensor]:
    """The harness's weights in the official layout: one generator over the sorted names
    (BN counters, the temperature and the class embeddings excepted), scaled normals."""
    layout = read_layout('fvit', f'layout_tiny_{variant}.json')
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name in sorted(layout):
        shape = layout[name]
        if any(s in name for s in _SKIP):
            continue
        n = torch.randn(shape, generator=generator)
        if name.endswith('running_var'):
            out[name] = 1 + 0.1 * n.abs()
        elif len(shape) == 1:
            out[name] = 1 + 0.1 * n if name.endswith('weight') else 0.02 * n
        elif name.split('.')[-1] in ('pos_embed', 'cls_token'):
            out[name] = 0.5 * n
        else:
            out[name] = n / math.sqrt(int(np.prod(shape[1:])))
    for name in layout:
        if name.endswith('num_batches_tracked'):
            out[name] = torch.zeros((), dtype=torch.long)
        elif 'rope.' in name:
            out[name] = torch.zeros(layout[name])
    out['roi_head.bbox_head.detect_temperature'] = torch.tensor(50.0)
    embeds = torch.from_numpy(class_embeddings).float().T
    out['roi_head.bbox_head.all_embeddings'] = embeds / embeds.norm(dim=0, keepdim=True)
    return out
