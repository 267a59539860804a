"""CLIP-EBC as released: official checkpoint layouts load strictly; outputs of the official
code on the same tiny weights (tests/fixtures/golden/clip_ebc/NOTE.md) are reproduced."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from ovperception.models import OVModel
from ovperception.models.checkpoint import load_model_state
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter, get_converter
from ovperception.models.counting import BlockwiseCountingHead, CLIPEBCBackbone
from ovperception.structures import OVDataSample

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'clip_ebc'
SEED = 11  # the weights seed of the generator (NOTE.md)
ANCHORS = [0, 1, 2, 3, 4.29992]
TEXT_CFG = dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1)
TINY = {
    'vit_deep': dict(backbone=dict(model_name='ViT-B-16', input_size=32, num_vpt=4,
                                   deep_vpt=True, vision_cfg=dict(
                                       image_size=32, patch_size=16, width=32, layers=2,
                                       head_width=16)),
                     head=dict(in_channels=32, decoder_block='basic', decoder_channels=[48])),
    'vit_shallow': dict(backbone=dict(model_name='ViT-B-16', input_size=32, num_vpt=4,
                                      deep_vpt=False, vision_cfg=dict(
                                          image_size=32, patch_size=16, width=32, layers=2,
                                          head_width=16)),
                        head=dict(in_channels=32, decoder_block='basic',
                                  decoder_channels=[48])),
    'resnet': dict(backbone=dict(model_name='RN50', input_size=None, frozen=False,
                                 vision_cfg=dict(layers=[1, 1, 1, 1], width=8, image_size=64,
                                                 head_width=64)),
                   head=dict(in_channels=256, decoder_block='bottleneck',
                             decoder_channels=[64])),
}


def official_weights(layout: dict[str, list], seed: int = SEED) -> dict[str, torch.Tensor]:
    """The generator's deterministic weights in the official layout: every entry in sorted
    key order from numpy RandomState(seed): 1-D ``*weight`` 1 + 0.1 N(0, 1), ``running_var``
    U(0.5, 1.5), ``num_batches_tracked`` 0, the rest 0.1 N(0, 1)."""
    rng = np.random.RandomState(seed)
    state = {}
    for key in sorted(layout):
        shape, dtype = layout[key]
        if key.endswith('num_batches_tracked'):
            state[key] = torch.zeros(shape, dtype=getattr(torch, dtype))
            continue
        if key.endswith('running_var'):
            values = rng.uniform(0.5, 1.5, shape)
        elif key.endswith('weight') and len(shape) == 1:
            values = 1 + 0.1 * rng.standard_normal(shape)
        else:
            values = 0.1 * rng.standard_normal(shape)
        state[key] = torch.from_numpy(np.asarray(values, np.float32)).reshape(shape)
    return state


def build_tiny(case: str, count_loss: str = 'mae') -> OVModel:
    spec = TINY[case]
    backbone = dict(spec['backbone'])
    vision_cfg = backbone.pop('vision_cfg')
    model_kwargs = dict(quick_gelu=True, embed_dim=16, vision_cfg=vision_cfg, text_cfg=TEXT_CFG)
    return OVModel(dict(type=CLIPEBCBackbone, model_kwargs=model_kwargs, **backbone),
                   dict(type=BlockwiseCountingHead, feature_stride=16, block_size=8,
                        embed_dim=16, representatives=ANCHORS, count_loss=count_loss,
                        **spec['head']),
                   template_set=['{}'])


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN / 'model.npz'))


@pytest.fixture(scope='module')
def tiny_layouts():
    return json.loads((GOLDEN / 'layout_tiny.json').read_text())


def loaded_tiny(case: str, layouts: dict) -> OVModel:
    model = build_tiny(case)
    state = official_weights(layouts[case])
    converter = find_converter(state)
    assert converter is get_converter('clip_ebc')
    load_model_state(model, converter.convert(state), 'official.pth')  # strict
    return model


@pytest.mark.parametrize('case', list(TINY))
def test_official_outputs_are_reproduced(case, golden, tiny_layouts):
    """Density maps, bin probabilities and text features of the official CLIP_EBC on the same
    weights and (normalised) images: float32, atol 1e-5 / rtol 1e-4."""
    model = loaded_tiny(case, tiny_layouts).eval()
    head = model.head
    text = model.encode_vocabulary(['person'])
    official_text = torch.nn.functional.normalize(
        torch.from_numpy(golden[f'{case}_text_features']), dim=-1)
    np.testing.assert_allclose(text.embeddings.numpy(), official_text.numpy(), atol=1e-5)
    images = torch.from_numpy(golden[f'{case}_images'])
    with torch.no_grad():
        feats = model.backbone.dense_features(images)
        logits = head.bin_logits(feats, text)[:, 0]  # (B, bins, h, w)
        density = head(feats, text) * head.block_size ** 2
    np.testing.assert_allclose(logits.softmax(1).numpy(), golden[f'{case}_probs'],
                               atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(density.numpy(), golden[f'{case}_density'], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('case', list(TINY))
def test_official_training_loss_and_gradients_are_reproduced(case, golden, tiny_layouts):
    """DACE loss (block CE summed + CLIP-EBC's block-wise 'mae') in training mode (batch-norm
    on batch statistics) and the gradients of the projection, the temperature and the first
    visual prompts: rtol 1e-4."""
    model = loaded_tiny(case, tiny_layouts).train()
    text = model.encode_vocabulary(['person'])
    images = torch.from_numpy(golden[f'{case}_images'])
    samples = []
    for index in range(images.shape[0]):
        sample = OVDataSample(metainfo=dict(img_shape=tuple(images.shape[-2:])))
        sample.gt_instances = InstanceData(points=torch.from_numpy(golden[f'{case}_p{index}']))
        samples.append(sample)
    losses = model.head.loss(model.backbone.dense_features(images), text, samples)
    total = losses['loss_cls'] + losses['loss_count']
    np.testing.assert_allclose(losses['loss_cls'].item(), golden[f'{case}_ce'].item(), rtol=1e-4)
    np.testing.assert_allclose(total.item(), golden[f'{case}_loss_mae'].item(), rtol=1e-4)
    total.backward()
    np.testing.assert_allclose(model.head.projection.weight.grad.numpy(),
                               golden[f'{case}_grad_projection'], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(model.head.log_logit_scale.grad.numpy(),
                               golden[f'{case}_grad_logit_scale'], rtol=1e-3, atol=1e-5)
    if case.startswith('vit'):
        np.testing.assert_allclose(model.backbone.vpt[0].grad.numpy(),
                                   golden[f'{case}_grad_vpt0'], rtol=1e-3, atol=1e-5)


def test_prompts_are_the_official_sentences(golden):
    head = BlockwiseCountingHead(8, representatives=ANCHORS)
    assert head.vocabulary_prompts(['person']) == [str(s) for s in golden['prompts_word']]
    head = BlockwiseCountingHead(8, prompt_type='number')
    assert head.vocabulary_prompts(['person']) == [str(s) for s in golden['prompts_number']]


@pytest.mark.parametrize('backbone', ['vit_b_16', 'resnet50'])
def test_released_layouts_convert_to_the_configs_model(backbone):
    """Every name and shape of the official ViT-B/16 (VPT, input 224) and RN50 models maps
    onto the model our CLIP-EBC configs build (built on the meta device: no memory)."""
    layout = json.loads((GOLDEN / 'layout_real.json').read_text())[backbone]
    state = {k: torch.empty(shape, dtype=getattr(torch, dtype), device='meta')
             for k, (shape, dtype) in layout.items()}
    assert find_converter(state) is get_converter('clip_ebc')
    converted = get_converter('clip_ebc').convert(state)
    from mmengine.config import Config
    name = 'clip_ebc_vitb16' if backbone == 'vit_b_16' else 'clip_ebc_resnet50'
    cfg = Config.fromfile(str(Path(__file__).parents[2] / 'configs' / '_base_' / 'models'
                              / f'{name}.py'))
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone'].update(pretrained=None)
    model_cfg['backbone']['model_kwargs'] = dict(model_cfg['backbone']['model_kwargs'],
                                                 device='meta')
    with torch.device('meta'):
        model = OVModel(**{k: v for k, v in model_cfg.items() if k != 'type'})
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert own == {k: tuple(v.shape) for k, v in converted.items()}


def test_unknown_official_keys_are_reported():
    state = {'logit_scale': torch.zeros(()), 'image_encoder.conv1.weight': torch.zeros(1),
             'text_encoder.ln_final.weight': torch.zeros(1), 'projection.weight': torch.zeros(1),
             'extra_head.weight': torch.zeros(1)}
    with pytest.raises(CheckpointMismatchError, match='extra_head.weight'):
        get_converter('clip_ebc').convert(state)
    wrapped = get_converter('clip_ebc').convert({'model_state_dict': {
        k: v for k, v in state.items() if k != 'extra_head.weight'}})
    assert 'head.log_logit_scale' in wrapped and 'backbone.model.ln_final.weight' in wrapped


def test_what_trains_as_in_clip_ebc():
    """ViT: frozen encoder and text tower, trainable prompts (dropout only in training);
    ResNet: fine-tuned encoder, frozen text tower."""
    vit = build_tiny('vit_deep').backbone
    trainable = {k for k, p in vit.named_parameters() if p.requires_grad}
    assert trainable == {'vpt.0', 'vpt.1'}
    dropped = CLIPEBCBackbone('ViT-B-16', input_size=32, num_vpt=4, vpt_drop=0.5,
                              model_kwargs=dict(quick_gelu=True, embed_dim=16, text_cfg=TEXT_CFG,
                                                vision_cfg=TINY['vit_deep']['backbone'][
                                                    'vision_cfg']))
    images = torch.rand(1, 3, 32, 32)
    dropped.train()
    assert not dropped.model.training and dropped.vpt_dropout.training
    assert not torch.equal(dropped.dense_features(images), dropped.dense_features(images))
    dropped.eval()
    assert torch.equal(dropped.dense_features(images), dropped.dense_features(images))
    resnet = build_tiny('resnet').backbone
    trainable = {k for k, p in resnet.named_parameters() if p.requires_grad}
    assert trainable and all(k.startswith('model.visual.') for k in trainable)
    assert resnet.train().model.visual.training


def test_convert_checkpoint_tool_writes_the_converted_release(tmp_path, tiny_layouts):
    """tools/convert_checkpoint.py clip_ebc SRC DST on a training checkpoint of the official
    trainer ({'model_state_dict': ...}); the output loads strictly into the tiny model."""
    from tests.scripts import load_script
    src, dst = tmp_path / 'ckpt.pth', tmp_path / 'ours.pth'
    state = official_weights(tiny_layouts['vit_deep'])
    torch.save({'model_state_dict': state, 'epoch': 3}, src)
    assert load_script('tools/convert_checkpoint.py').main(['clip_ebc', str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)['state_dict']
    model = build_tiny('vit_deep')
    load_model_state(model, converted, str(dst))
    assert torch.equal(model.backbone.vpt[1], state['vpt_1'])
