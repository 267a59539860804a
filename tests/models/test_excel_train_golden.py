"""ExCEL training, LVC, the trained segmenter and its converter against the official code
(zwyang6/ExCEL @ 2cd7f51, tests/fixtures/golden/excel/NOTE.md "Training path")."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import ExCELModel, ExCELSegHead
from ovperception.models.segmentation.excel_convert import convert_excel
from ovperception.models.segmentation.excel_head import predicted_affinity
from ovperception.models.segmentation.excel_losses import (affinity_labels, affinity_loss,
                                                           balanced_segmentation_loss,
                                                           radius_mask)
from ovperception.models.segmentation.excel_training import (batch_pseudo_masks,
                                                             quantised_guides)
from ovperception.models.segmentation.excel_visual import refine_with_affinity, surgery_forward
from ovperception.structures import OVDataSample
from tests.golden_inputs import seeded_clip_state_dict

GOLDEN = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'golden', 'excel')
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
CLASSES = ['background', 'one', 'two', 'three']
VARIANTS = ('raw', 'lvc', 'lvc_segattn')


@pytest.fixture(scope='module')
def golden() -> dict[str, torch.Tensor]:
    data = np.load(os.path.join(GOLDEN, 'excel_train_golden.npz'))
    return {k: torch.from_numpy(data[k]) for k in data.files}


@pytest.fixture(scope='module')
def layout() -> dict:
    with open(os.path.join(GOLDEN, 'excel_train_layout.json'), encoding='utf-8') as handle:
        return json.load(handle)


def official_state(golden: dict, layout: dict) -> dict[str, torch.Tensor]:
    """The DDP state dict train_voc.py saves (encoder zeros; heads from the fixture)."""
    state = {}
    for key, shape, _ in layout['state_dict']:
        inner = key[len('module.'):]
        state[key] = (golden[f'state/{inner}'].float() if f'state/{inner}' in golden
                      else torch.zeros(shape))
    return state


def normalise(image_uint8: torch.Tensor) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) ImageNet-normalised (float64 then float32)."""
    mean, std = torch.tensor(IMAGENET_MEAN, dtype=torch.float64), torch.tensor(
        IMAGENET_STD, dtype=torch.float64)
    return ((image_uint8.double() - mean) / std).float().movedim(-1, -3)


@pytest.fixture(scope='module')
def model(golden: dict, layout: dict) -> ExCELModel:
    backbone = OpenCLIPBackbone(
        'ViT-B-16', pretrained=None, pos_embed_resize='bilinear', grid_remainder='drop',
        model_kwargs=dict(embed_dim=32, quick_gelu=True, vision_cfg=dict(
            image_size=64, patch_size=16, width=128, layers=12, head_width=64),
            text_cfg=dict(width=32, heads=2, layers=1)))
    visual = seeded_clip_state_dict(
        [(k, tuple(s)) for k, s in layout['visual_keys_before_reload']], seed=1)
    backbone.visual.load_state_dict({k[len('visual.'):]: v for k, v in visual.items()})
    model = ExCELModel(
        backbone, data_preprocessor=OVDataPreprocessor(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        seg_head=ExCELSegHead(in_channels=128, num_layers=12, embed_dim=32, num_classes=4),
        head_classes=CLASSES, input_size=128, excel_background_words=('x', 'y'),
        segmenter_cfg=dict(size=128), train_cfg=dict(affinity_radius=2))
    converted = convert_excel(official_state(golden, layout))
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected and all(k.startswith('backbone.') for k in missing)
    texts = golden['text_attr'].T.contiguous()            # (3 classes + 2 background, C)
    model.class_texts = lambda classes: texts
    return model.eval()


@pytest.fixture(scope='module')
def inputs(golden: dict) -> torch.Tensor:
    return normalise(golden['images_uint8'])


def attn_pred(golden: dict) -> torch.Tensor:
    """(2, 64, 64) predicted affinity of the official fused features (the npz holds the
    features, not ``attn_pred``; the affinity losses, the seg_attn pseudo-masks and the
    training step below check it against the official numbers)."""
    return predicted_affinity(golden['fts'])


def present(golden: dict) -> list[list[int]]:
    return [torch.nonzero(row).flatten().tolist() for row in golden['cls_labels']]


def test_segmenter_forward_matches_official(model, golden, inputs):
    with torch.no_grad():
        out, logits, fused = model.segment(inputs)
        maps = model.head_class_maps(out.tokens)
    torch.testing.assert_close(out.attention[-6:], golden['attn_weights_last6'], atol=2e-5,
                               rtol=0)
    torch.testing.assert_close(maps, golden['attr_maps_raw'], atol=2e-5, rtol=0)
    torch.testing.assert_close(fused, golden['fts'], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(logits, golden['segs'], atol=5e-5, rtol=1e-5)


def test_lvc_maps_match_official(model, golden, inputs):
    with torch.no_grad():
        lvc = surgery_forward(model.backbone, inputs, ex_feats=golden['fts'])
        flipped, _, _ = model.calibrated_flip_maps(inputs)
    torch.testing.assert_close(model.head_class_maps(lvc.tokens), golden['attr_maps_lvc'],
                               atol=2e-5, rtol=0)
    torch.testing.assert_close(flipped, golden['attr_maps_lvc_flip'], atol=2e-5, rtol=0)


@pytest.mark.parametrize('variant', VARIANTS)
def test_refined_maps_and_pseudo_masks_match_official(model, golden, inputs, variant):
    maps = golden['attr_maps_raw' if variant == 'raw' else 'attr_maps_lvc']
    seg_attn = attn_pred(golden) if variant == 'lvc_segattn' else None
    with torch.no_grad():
        attention = model.segment(inputs)[0].attention
    classes = present(golden)
    for index, image_classes in enumerate(classes):
        assert image_classes == golden[f'classes_{index}'].tolist()
        refined = refine_with_affinity(maps[index], attention[:, index], image_classes, (8, 8),
                                       seg_attn=None if seg_attn is None else seg_attn[index])
        torch.testing.assert_close(refined, golden[f'refined_{variant}_{index}'], atol=2e-5,
                                   rtol=1e-4)
    guides = quantised_guides(inputs, torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD))
    masks = batch_pseudo_masks(maps, attention, classes, (8, 8), guides, seg_affinity=seg_attn)
    agreement = (masks == golden[f'pseudo_{variant}'].long()).float().mean().item()
    assert agreement == 1.0, agreement


@pytest.mark.parametrize('variant', VARIANTS + ('segpred',))
def test_losses_and_affinity_labels_match_official(golden, variant):
    mask = radius_mask(8, 8, 2)
    assert torch.equal(mask, golden['radius_mask'].bool())
    source = golden['seg_pred' if variant == 'segpred' else f'pseudo_{variant}'].long()
    labels = affinity_labels(source, mask)
    assert torch.equal(labels, golden[f'aff_label_{variant}'].long())
    torch.testing.assert_close(affinity_loss(attn_pred(golden), labels),
                               golden[f'aff_loss_{variant}'], atol=1e-6, rtol=1e-6)
    if variant != 'segpred':
        logits = torch.nn.functional.interpolate(golden['segs'], size=(128, 128),
                                                 mode='bilinear', align_corners=False)
        torch.testing.assert_close(balanced_segmentation_loss(logits, source),
                                   golden[f'seg_loss_{variant}'], atol=1e-5, rtol=1e-5)


def test_training_step_losses_and_gradients_match_official(model, golden, inputs):
    """The official step with 14000 <= n_iter < 24000 (LVC maps, seg_attn, affinity labels
    from the pseudo-masks), dropout off."""
    samples = [OVDataSample(metainfo=dict(classnames=CLASSES,
                                          image_tags=[c + 1 for c in classes]))
               for classes in present(golden)]
    model.train()
    model.seg_head.dropout.p = 0.0
    model.train_iter.fill_(model.train_cfg['lvc_start_iter'])
    try:
        model.zero_grad()
        losses = model.loss(inputs, samples)
        (losses['loss_seg'] + losses['loss_aff']).backward()
    finally:
        model.eval()
        model.seg_head.dropout.p = 0.1
    assert int(model.train_iter) == model.train_cfg['lvc_start_iter'] + 1
    assert not model.backbone.training or True
    torch.testing.assert_close(losses['loss_seg'], golden['train_seg_loss'], atol=2e-5, rtol=0)
    torch.testing.assert_close(losses['loss_aff'], 0.1 * golden['train_diver_loss'],
                               atol=2e-6, rtol=0)
    ours = {'decoder.linear_pred.weight': 'linear_pred.weight',
            'decoder.linear_pred.bias': 'linear_pred.bias',
            'decoder_fts_fuse.linear_fuse.weight': 'fuse.weight',
            'decoder_fts_fuse.linears_modulelist.0.proj.weight': 'layer_mlps.0.proj.weight',
            'decoder_fts_fuse.linears_modulelist.11.proj_2.weight':
                'layer_mlps.11.proj_2.weight',
            'decoder.transformer.resblocks.0.attn.in_proj_weight':
                'decoder.0.attn.in_proj_weight'}
    parameters = dict(model.seg_head.named_parameters())
    for official, name in ours.items():
        torch.testing.assert_close(parameters[name].grad, golden[f'grad/{official}'],
                                   atol=2e-5, rtol=2e-4)
    assert all(p.grad is None for p in model.backbone.parameters())


def test_msc_flip_logits_match_official(model, golden):
    image = normalise(golden['msc_image_uint8'])
    with torch.no_grad():
        logits = model.segmenter_logits(image)
    torch.testing.assert_close(logits, golden['msc_logits'][0], atol=5e-5, rtol=1e-5)
    assert torch.equal(logits.argmax(0), golden['msc_pred'][0].long())


def test_pseudo_mask_after_training_matches_official(model, golden):
    image = normalise(golden['msc_image_uint8'])
    classes = torch.nonzero(golden['lam_cls_label'][0]).flatten().tolist()
    labels = model.trained_pseudo_mask(image, classes, (100, 90))
    agreement = (labels == golden['lam_pseudo'][0].long()).float().mean().item()
    assert agreement == 1.0, agreement


def test_converter_on_the_official_layout(golden, layout):
    state = official_state(golden, layout)
    assert find_converter(state).name == 'excel'
    converted = convert_excel(state)
    head = ExCELSegHead(in_channels=128, num_layers=12, embed_dim=32, num_classes=4)
    head.load_state_dict({k[len('seg_head.'):]: v for k, v in converted.items()
                          if k.startswith('seg_head.')}, strict=True)
    assert int(converted['train_iter']) == 0
    assert not any(k.startswith('backbone.') for k in converted)
    with pytest.raises(CheckpointMismatchError, match=r'ExCEL checkpoint has 1 keys .*extra'):
        convert_excel({**state, 'module.decoder.extra.weight': torch.zeros(1)})


def test_official_checkpoint_loads_through_weights(model, golden, layout, tmp_path):
    from ovperception.models.checkpoint import load_weights
    path = tmp_path / 'model_iter_30000.pth'
    torch.save(official_state(golden, layout), path)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    for parameter in model.seg_head.parameters():
        parameter.data.zero_()
    load_weights(model, str(path))
    torch.testing.assert_close(model.seg_head.linear_pred.weight,
                               golden['state/decoder.linear_pred.weight'].float())
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in before.items())
