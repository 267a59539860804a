"""FC-CLIP against its official code (bytedance/fc-clip): the official model run on seeded
random tiny weights (tests/fixtures/golden/fcclip/NOTE.md); we load the same weights through
our converter and must reproduce its raw decoder outputs, ensembled class probabilities and
the semantic, panoptic and instance predictions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from ovperception.models.panoptic.convert import convert_fcclip
from ovperception.models.panoptic.fcclip import seen_class_mask
from ovperception.models.panoptic.mask_inference import semantic_inference
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID
from tests.tiny_fcclip import TINY_CONVNEXT_CLIP

GOLDEN = Path(__file__).resolve().parents[1] / 'fixtures' / 'golden' / 'fcclip'
TRAIN = ['person', 'car', 'tree', 'sky']
TEST = ['person', 'dog; puppy', 'sky', 'grass', 'car']
THING = [True, True, False, False, True]
OUT_SHAPES = [(84, 108), (64, 96)]

pytestmark = pytest.mark.usefixtures('one_thread')


def official_state(prefix: str = 'tiny') -> dict[str, torch.Tensor]:
    """The official model's state dict, rebuilt from the packed int8-grid fixture."""
    stored = np.load(GOLDEN / f'{prefix}_weights.npz')
    names = str(stored['names']).split('\n')
    shapes = json.loads(str(stored['shapes']))
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = torch.from_numpy(stored['data'].astype(np.float32)).split(sizes)
    scales = torch.from_numpy(stored['scales'])
    state = {name: values.reshape(shape) * scales[index]  # float32 products, as made
             for index, (name, values, shape) in enumerate(zip(names, flat, shapes))}
    for key in stored.files:
        if key.startswith('f:'):
            state[key[2:]] = torch.from_numpy(stored[key])
    table = torch.zeros(tuple(stored['token_table_shape']))
    table[torch.from_numpy(stored['token_rows'])] = state.pop('token_table')
    state['backbone.clip_model.token_embedding.weight'] = table
    return state


@pytest.fixture(scope='module')
def golden():
    return np.load(GOLDEN / 'tiny_outputs.npz')


def build_tiny_official(**overrides) -> torch.nn.Module:
    """Our FCCLIP in the golden model's architecture (random weights; ``overrides`` added)."""
    init_default_scope('ovperception')
    return MODELS.build({**dict(
        type='FCCLIP', backbone=TINY_CONVNEXT_CLIP,
        pixel_decoder=dict(type='MSDeformAttnPixelDecoder', conv_dim=32, mask_dim=32,
                           num_encoder_layers=2, num_heads=2, dim_feedforward=64),
        mask_decoder=dict(type='MaskTransformerDecoder', hidden_dim=32, num_queries=8,
                          num_heads=2, dim_feedforward=64, num_layers=3)), **overrides})


@pytest.fixture(scope='module')
def model():
    net = build_tiny_official(seen_classnames=TRAIN, template_set='vild14',
                              test_cfg=dict(instance_on=True, max_instances=20))
    net.load_state_dict(convert_fcclip({'model': official_state()}), strict=True)
    return net.eval()


def _batch(model, golden):
    samples = [OVDataSample(metainfo=dict(classnames=TEST, is_thing=THING, ori_shape=shape))
               for shape in OUT_SHAPES]
    images = [torch.from_numpy(golden[f'image{i}']) for i in range(2)]
    return model.data_preprocessor(dict(inputs=images, data_samples=samples), False)


def test_decoder_outputs_and_ensembled_probabilities_match(model, golden):
    data = _batch(model, golden)
    with torch.no_grad():
        encoded = model.encode_images(data['inputs'])
        text = model.encode_vocabulary(tuple(TEST))
        names = model.class_text(text, encoded.res5)
        in_logits = model.in_vocabulary_logits(encoded.class_embeds, names, text)
        probs = model.class_probabilities({'res5': encoded.res5}, encoded.class_embeds,
                                          encoded.mask_logits, text)
    assert seen_class_mask(TEST, model.seen_names).tolist() == [True, False, True, False, True]
    np.testing.assert_allclose(encoded.mask_logits.numpy(), golden['pred_masks'], atol=2e-4,
                               rtol=1e-4)
    np.testing.assert_allclose(in_logits.numpy(), golden['pred_logits'], atol=2e-4, rtol=1e-4)
    for i in range(2):
        official = torch.from_numpy(golden[f'mask_cls_log{i}']).softmax(-1).numpy()
        np.testing.assert_allclose(probs[i].numpy(), official, atol=1e-5)
        if f'sem_seg{i}' not in golden.files:  # semantic maps are stored for image 0
            continue
        masks = model._masks_at_original_size(encoded.mask_logits[i], encoded.padded_size,
                                              data['data_samples'][i])
        scores = semantic_inference(probs[i], masks)
        np.testing.assert_allclose(scores.numpy(), golden[f'sem_seg{i}'].astype(np.float32),
                                   atol=2e-3)
        # the semantic-only protocol: scores at the input size, then cropped and resized
        chunks = list(model.semantic_scores_at_input_size(
            probs[i], encoded.mask_logits[i], encoded.padded_size, data['data_samples'][i], 2))
        scores = torch.cat([part for _, part in chunks])
        assert [start for start, _ in chunks] == [0, 2, 4]
        np.testing.assert_allclose(scores.numpy(), golden[f'sem_only{i}'].astype(np.float32),
                                   atol=2e-3)


def _category_map(panoptic: np.ndarray, segments: list[tuple[int, int]]) -> np.ndarray:
    out = np.full(panoptic.shape, -1)
    for segment_id, label in segments:
        out[panoptic == segment_id] = label
    return out


def test_semantic_only_protocol_predicts_the_official_labels(model, golden):
    model.test_cfg.update(panoptic_on=False, instance_on=False)
    try:
        with torch.no_grad():
            results = model(**_batch(model, golden), mode='predict')
    finally:
        model.test_cfg.update(panoptic_on=True, instance_on=True)
    for i, sample in enumerate(results[:1]):  # stored for image 0
        official = golden[f'sem_only{i}'].astype(np.float32)
        decided = np.sort(official, 0)[-1] - np.sort(official, 0)[-2] > 2e-3
        assert (sample.pred_sem_seg.data[0].numpy() == official.argmax(0))[decided].all()
        assert 'pred_panoptic_seg' not in sample


def test_semantic_panoptic_and_instance_predictions_match(model, golden):
    data = _batch(model, golden)
    with torch.no_grad():
        results = model(**data, mode='predict')
    for i, sample in enumerate(results):
        if f'sem_seg{i}' in golden.files:
            official_sem = golden[f'sem_seg{i}'].astype(np.float32)
            ours = sample.pred_sem_seg.data[0].numpy()
            decided = np.sort(official_sem, 0)[-1] - np.sort(official_sem, 0)[-2] > 2e-3
            assert (ours == official_sem.argmax(0))[decided].all()
        # panoptic: same category per pixel and the same partition into segments
        official_pan = golden[f'panoptic{i}'].astype(np.int64)
        official_segments = [(int(s), int(c)) for s, c, _ in golden[f'segments{i}']]
        assert len(official_segments) > 0
        ours_pan = sample.pred_panoptic_seg.data[0].numpy()
        ours_segments = [(s['id'], s['label']) for s in sample.metainfo['segments_info']]
        assert len(ours_segments) == len(official_segments)
        _partition_agrees(official_pan, official_segments, ours_pan, ours_segments)
        assert all(segment_id % INSTANCE_OFFSET == label for segment_id, label in ours_segments)
        # instances: the same (class, score, mask) set
        inst = sample.pred_instances
        shape = OUT_SHAPES[i]
        official_masks = np.unpackbits(golden[f'inst_masks{i}'], axis=-1)[..., :shape[1]]
        assert len(inst.scores) == len(golden[f'inst_scores{i}'])
        order = np.lexsort((golden[f'inst_classes{i}'], -golden[f'inst_scores{i}']))
        ours_order = np.lexsort((inst.labels.numpy(), -inst.scores.numpy()))
        np.testing.assert_allclose(inst.scores.numpy()[ours_order],
                                   golden[f'inst_scores{i}'][order], atol=1e-4)
        np.testing.assert_array_equal(inst.labels.numpy()[ours_order],
                                      golden[f'inst_classes{i}'][order])
        agreement = (inst.masks.numpy()[ours_order] == official_masks[order].astype(bool)).mean()
        assert agreement > 0.999


@pytest.fixture(scope='module')
def parts():
    return np.load(GOLDEN / 'parts.npz')


def _partition_agrees(official_pan, official_segments, ours_pan, ours_segments):
    np.testing.assert_array_equal(_category_map(ours_pan, ours_segments),
                                  _category_map(official_pan, official_segments))
    pairs = {(int(a), int(b)) for a, b in zip(official_pan.ravel(), ours_pan.ravel())}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
    assert ((official_pan == 0) == (ours_pan == VOID)).all()


@pytest.mark.parametrize('overlap', [0.8, 0.5])
def test_panoptic_merge_follows_the_official_overlap_rule(parts, overlap):
    from ovperception.models.panoptic.mask_inference import panoptic_inference
    probs = torch.from_numpy(parts['pan_logits']).softmax(-1)
    panoptic, segments = panoptic_inference(
        probs, torch.from_numpy(parts['pan_masks']), [True, False, True, False],
        object_mask_threshold=0.0, overlap_threshold=overlap)
    official = [(int(s), int(c)) for s, c, _ in parts[f'segments_{overlap}']]
    assert len(official) >= 4 and len(segments) == len(official)
    _partition_agrees(parts[f'panoptic_{overlap}'].astype(np.int64), official,
                      panoptic.numpy(), [(s['id'], s['label']) for s in segments])


def test_resnet_masked_attention_pooling_matches(parts):
    from open_clip.modified_resnet import AttentionPool2d

    from ovperception.models.panoptic.mask_inference import masked_attention_pool
    pool = AttentionPool2d(spacial_dim=4, embed_dim=16, num_heads=2, output_dim=12)
    pool.load_state_dict({k[5:]: torch.from_numpy(parts[k]) for k in parts.files
                          if k.startswith('pool:')})
    with torch.no_grad():
        pooled = masked_attention_pool(pool.eval(), torch.from_numpy(parts['pool_features']),
                                       torch.from_numpy(parts['pool_masks']))
    np.testing.assert_allclose(pooled.numpy(), parts['pooled'], atol=1e-5)


def test_resnet_model_matches_with_ensemble_on_valid_masks(golden):
    """The official model on a tiny 'RN50' CLIP (masked attention pooling for the
    out-of-vocabulary classifier, ENSEMBLE_ON_VALID_MASK=True as in its ResNet configs)."""
    from tests.models.conftest import TINY_CLIP_CONFIGS
    name, kwargs = TINY_CLIP_CONFIGS['resnet']
    kwargs = dict(kwargs, vision_cfg=dict(kwargs['vision_cfg'], width=4))
    net = build_tiny_official(
        backbone=dict(type='OpenCLIPBackbone', model_name=name, pretrained=None,
                      model_kwargs=kwargs),
        seen_classnames=TRAIN, template_set='vild14', ensemble_on_valid_mask=True)
    net.load_state_dict(convert_fcclip(official_state('tiny_rn')), strict=True)
    official = np.load(GOLDEN / 'tiny_rn_outputs.npz')
    data = _batch(net.eval(), golden)
    with torch.no_grad():
        encoded = net.encode_images(data['inputs'])
        text = net.encode_vocabulary(tuple(TEST))
        probs = net.class_probabilities({'res5': encoded.res5}, encoded.class_embeds,
                                        encoded.mask_logits, text)
        _, valid = net.out_vocabulary_logits(encoded.res5, encoded.mask_logits,
                                             net.class_text(text, encoded.res5), text)
    np.testing.assert_allclose(encoded.mask_logits.numpy(), official['pred_masks'], atol=2e-4,
                               rtol=1e-4)
    for i in range(2):
        expected = torch.from_numpy(official[f'mask_cls_log{i}']).softmax(-1).numpy()
        np.testing.assert_allclose(probs[i].numpy(), expected, atol=1e-5)
    assert valid.all()  # every mask covers a stride-32 cell (empty case: test_fcclip_parts)
