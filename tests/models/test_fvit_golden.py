"""F-ViT against the official code (tests/fixtures/golden/fvit/NOTE.md): the released
layout converted by ``fvit`` loads strictly and gives the official pyramid, FPN, RPN
proposals and final boxes, scores, labels (and masks of the OV-LVIS variant)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovperception.models.checkpoint import load_model_state
from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.detection.fvit.convert import convert_fvit
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from tests.models.fvit_golden import CLASSES, seeded_fvit_state, tiny_fvit_cfg
from tests.models.golden import load_golden

GOLDEN = load_golden('fvit', 'tiny_fvit.npz')
METAS = [dict(img_shape=(128, 128), ori_shape=(256, 256), scale_factor=(0.5, 0.5)),
         dict(img_shape=(96, 128), ori_shape=(120, 160), scale_factor=(0.8, 0.8))]
TOL = dict(rtol=1e-4, atol=1e-4)


def build(variant: str):
    model = MODELS.build(tiny_fvit_cfg(variant)).eval()
    official = seeded_fvit_state(variant, GOLDEN['class_embeddings'])
    converted = convert_fvit({'state_dict': official})
    load_model_state(model, converted, 'golden')  # strict except the (absent) text tower
    names = Vocabulary.parse(CLASSES, [])
    embeds = torch.from_numpy(GOLDEN['class_embeddings'][:-1]).float()
    text = TextEmbeddings(names, embeds / embeds.norm(dim=1, keepdim=True),
                          torch.arange(len(CLASSES)), 100.0)
    model.encode_vocabulary = lambda classnames, device=None: text
    return model


def samples() -> list[OVDataSample]:
    return [OVDataSample(metainfo=dict(meta, classnames=CLASSES)) for meta in METAS]


def by_class(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Detections as (label, x1, y1, x2, y2, score) rows in (label, -score) order."""
    order = np.lexsort((-scores, labels))
    return np.concatenate([labels[order, None], boxes[order], scores[order, None]], axis=1)


@pytest.mark.parametrize('variant', ['coco', 'lvis'])
def test_fvit_matches_the_official_detector(variant):
    model = build(variant)
    images = torch.from_numpy(GOLDEN['images'])
    with torch.no_grad():
        if variant == 'coco':
            maps, dense = model.backbone.block_maps_and_dense(images, model.out_indices)
            scales = model.neck.scales(maps)
            for i, level in enumerate(scales):
                want = GOLDEN[f'coco_pyramid{i}']
                np.testing.assert_allclose(level[:, :, :want.shape[2], :want.shape[3]].numpy(),
                                           want, **TOL)
            levels, clip_map = model.features(images)
            for i, level in enumerate(levels):
                want = GOLDEN[f'coco_fpn{i}']
                np.testing.assert_allclose(level[:, :, :want.shape[2], :want.shape[3]].numpy(),
                                           want, **TOL)
            np.testing.assert_allclose(clip_map.numpy(), GOLDEN['coco_vlm_map'], **TOL)
        encoded = model.encode_images(images, samples())
        out = model.decode(encoded, samples())
    for b, sample in enumerate(out):
        np.testing.assert_allclose(encoded.proposals[b].numpy(),
                                   GOLDEN[f"{variant}_proposals{b}"], rtol=1e-4, atol=1e-3)
        dets = GOLDEN[f'{variant}_dets{b}']
        want = by_class(dets[:, :4], dets[:, 4], GOLDEN[f'{variant}_labels{b}'])
        pred = sample.pred_instances
        got = by_class(pred.bboxes.numpy(), pred.scores.numpy(), pred.labels.numpy())
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
        if variant == 'lvis':
            index = GOLDEN[f'lvis_mask_index{b}']
            height, width = METAS[b]['ori_shape']
            official = np.unpackbits(GOLDEN[f'lvis_masks{b}'], axis=-1)[..., :width]
            labels = GOLDEN[f'{variant}_labels{b}']
            for row, i in enumerate(index):  # the official masks follow dets in class order
                gap = np.abs(pred.bboxes.numpy() - dets[i, :4]).sum(1) + np.abs(
                    pred.scores.numpy() - dets[i, 4]) + 1e9 * (pred.labels.numpy() != labels[i])
                assert gap.min() < 1e-2
                ours = pred.masks[int(gap.argmin())].numpy()
                assert ours.shape == (height, width)
                assert (ours != official[row].astype(bool)).mean() < 1e-3
