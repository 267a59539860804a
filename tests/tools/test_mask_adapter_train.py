"""Mask-Adapter training (mixed-mask, as released): the mask mixing, IoU matching and losses
by known answers, the freezing, and tools/train.py on synthetic shapes: the loss falls and the
trained adapter classifies held-out ground-truth masks better than an untrained one."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch import Tensor

from ovperception.models import FCCLIP
from ovperception.models.checkpoint import CheckpointMismatchError, load_model_state
from ovperception.models.panoptic.mask_inference import mask_pool

from ovperception.models.panoptic.mask_adapter_training import (mask_adapter_losses, mask_iou,
                                                                 match_via_iou, mixed_masks,
                                                                 sample_ground_truth)
from ovperception.models.panoptic.targets import segment_targets
from ovperception.registry import DATASETS, MODELS
from tests.scripts import ROOT, train_tool

CONFIG = os.path.join(ROOT, 'configs', 'tiny', 'fcclip_tiny_mask_adapter_train.py')


def _square(top: int, left: int, size: int = 4, canvas: int = 8) -> torch.Tensor:
    mask = torch.zeros(canvas, canvas)
    mask[top:top + size, left:left + size] = 1
    return mask


def test_ground_truth_is_sampled_and_padded_with_ignored_slots():
    masks = torch.stack([_square(0, 0), torch.zeros(8, 8), _square(4, 4)])
    picked, labels = sample_ground_truth(masks, torch.tensor([3, 1, 2]), 4)
    assert labels.tolist() == [3, 2, -1, -1]  # the empty mask is dropped
    assert picked[0].sum() == 16 and picked[2:].abs().sum() == 0
    picked, labels = sample_ground_truth(masks, torch.tensor([3, 1, 2]), 1)
    assert picked.shape == (1, 8, 8) and labels.item() in (3, 2)


def test_predictions_match_the_ground_truth_they_cover_above_the_iou_threshold():
    targets = torch.stack([_square(0, 0), _square(4, 4)])
    # query 0 covers target 1 exactly, query 1 half of target 0 (IoU 0.5), query 2 nothing
    pred = torch.stack([_square(4, 4), _square(0, 0, 2) + _square(2, 0, 2), -torch.ones(8, 8)])
    logits = (pred - 0.5) * 20
    src, tgt, labels = match_via_iou(logits, targets, torch.tensor([5, 7]), 0.7, 3)
    assert labels.tolist() == [7, -1, -1]
    assert torch.equal(src[0], logits[0]) and torch.equal(tgt[0], targets[1])
    assert src[1:].abs().sum() == 0 and tgt[1:].abs().sum() == 0
    _, _, labels = match_via_iou(logits, targets, torch.tensor([5, 7]), 0.4, 3)
    assert labels.tolist() == [5, 7, -1]


def test_mixed_masks_are_ground_truth_then_predictions_then_their_targets():
    gt = torch.stack([_square(0, 0, 16, 32), _square(16, 16, 16, 32)])
    pred = (torch.stack([_square(4, 4), _square(0, 0)]) - 0.5) * 20  # stride 4 logits
    mixed = mixed_masks(pred, gt, torch.tensor([1, 2]), num_gt_masks=3, num_pred_masks=2,
                        iou_threshold=0.7, mask_threshold=0.5)
    assert mixed.masks.shape == (7, 32, 32)
    assert sorted(mixed.labels[:3].tolist()) == [-1, 1, 2]
    assert sorted(mixed.labels[3:5].tolist()) == [1, 2] and torch.equal(mixed.labels[3:5],
                                                                         mixed.labels[5:])
    assert torch.allclose(mixed.masks[3:5], mixed.masks[5:], atol=1e-6)  # exact predictions


def test_losses_by_known_answers():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [9.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, 1, -1]])
    embeds = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    losses = mask_adapter_losses(logits, labels, embeds, num_gt_masks=1, num_pred_masks=1,
                                 class_weight=2.0, cosine_weight=5.0)
    ce = torch.nn.functional.cross_entropy(logits[0, :2], labels[0, :2])
    assert torch.allclose(losses['loss_ce'], 2 * ce)
    assert torch.allclose(losses['loss_cosine'], torch.tensor(5 * (1 - 2 ** -0.5)))
    none = mask_adapter_losses(logits, torch.full((1, 3), -1), embeds, 1, 1)
    assert none['loss_ce'] == 0 and none['loss_ce'].requires_grad is False


def test_ground_truth_warm_up_has_no_predicted_masks_and_no_cosine_loss():
    gt = torch.stack([_square(0, 0, 16, 32)])
    mixed = mixed_masks(None, gt, torch.tensor([1]), num_gt_masks=2, num_pred_masks=0,
                        iou_threshold=0.7, mask_threshold=0.5)
    assert mixed.masks.shape == (2, 32, 32) and mixed.labels.tolist() == [1, -1]
    losses = mask_adapter_losses(torch.zeros(1, 2, 3), mixed.labels[None],
                                 torch.ones(1, 2, 4), num_gt_masks=2, num_pred_masks=0)
    assert set(losses) == {'loss_ce'}
    cfg = Config.fromfile(CONFIG)
    cfg.model.adapter_training.update(num_pred_masks=0)
    model = _model(cfg)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=True)
    model.decode_queries = None  # the segmenter is not run
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert set(losses) == {'loss_ce'} and torch.isfinite(losses['loss_ce'])
    losses['loss_ce'].backward()
    assert model.mask_adapter.final.weight.grad.abs().sum() > 0


def test_losses_match_the_official_functions():
    golden = dict(np.load(os.path.join(ROOT, 'tests', 'fixtures', 'golden', 'maskadapter',
                                       'training_losses.npz')))
    g = {k: torch.from_numpy(v) for k, v in golden.items()}
    for b in range(2):
        ious = mask_iou(g['pred'][b].flatten(1), g['targets'][b].flatten(1))
        assert torch.allclose(ious, g['ious'][b], atol=1e-6)
        src, tgt, labels = match_via_iou(g['pred'][b], g['targets'][b], g['labels'][b], 0.7, 3)
        assert torch.equal(labels, g['matched_labels'][b])
        assert torch.allclose(src, g['src'][b]) and torch.allclose(tgt, g['tgt'][b])
    scale = min(float(np.exp(np.log(1 / 0.07))), 100.0)
    logits = scale * F.normalize(g['embeds'], dim=-1) @ g['text'].T
    assert torch.allclose(logits, g['logits'], atol=1e-4)
    losses = mask_adapter_losses(g['logits'], g['all_labels'], g['embeds'], num_gt_masks=3,
                                 num_pred_masks=2, class_weight=1.0, cosine_weight=1.0)
    assert torch.allclose(losses['loss_ce'], g['loss_ce'], atol=1e-5)
    assert torch.allclose(losses['loss_cosine'], g['loss_cosine'], atol=1e-6)


def _model(cfg: Config):
    return MODELS.build(cfg.model)


def test_only_the_adapter_and_void_train_and_bad_settings_are_refused():
    cfg = Config.fromfile(CONFIG)
    model = _model(cfg)
    trainable = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'mask_adapter', 'void_embedding'}
    cfg.model.adapter_training['num_masks'] = 3
    with pytest.raises(ValueError, match="unknown adapter_training keys \\['num_masks'\\]"):
        _model(cfg)
    cfg.model.adapter_training.pop('num_masks')
    cfg.model.mask_adapter = None
    with pytest.raises(ValueError, match='needs a mask_adapter'):
        _model(cfg)


def test_a_plain_fcclip_checkpoint_starts_adapter_training_but_not_adapter_inference(tmp_path):
    cfg = Config.fromfile(CONFIG)
    training = _model(cfg)
    state = {k: v for k, v in training.state_dict().items() if not k.startswith('mask_adapter.')}
    load_model_state(training, state, 'fcclip.pth')  # the adapter starts from scratch
    cfg.model.pop('adapter_training')
    with pytest.raises(CheckpointMismatchError, match='missing'):
        load_model_state(_model(cfg), state, 'fcclip.pth')


@torch.no_grad()
def _segments(model, dataset_cfg) -> tuple[tuple[str, ...], list[tuple[Tensor, Tensor, Tensor]]]:
    """Class names and, per image, ((1, C5, h, w) res5, (M, H, W) masks, (M,) labels)."""
    dataset = DATASETS.build(dataset_cfg)
    batch = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(len(dataset))]))
    inputs, samples = batch['inputs'], batch['data_samples']
    classnames = tuple(samples[0].metainfo['classnames'])
    res5 = model.backbone_features(inputs)['res5']
    images = []
    for index, sample in enumerate(samples):
        target = segment_targets(sample, inputs.shape[-2:], len(classnames))
        images.append((res5[index:index + 1], target.masks, target.labels))
    return classnames, images


@pytest.fixture
def aligned_text(monkeypatch):
    """A random tiny CLIP knows nothing of the shapes' names: stand in for a trained CLIP by
    taking as each class's text embedding the mean mask-pooled CLIP embedding of its training
    segments (computed once per model with its own frozen towers)."""
    cfg = Config.fromfile(CONFIG)
    original = FCCLIP.encode_vocabulary
    prototypes: dict[int, Tensor] = {}

    @torch.no_grad()
    def encode_vocabulary(self, classnames):
        text = original(self, classnames)
        if id(self) not in prototypes:
            _, images = _segments(self, cfg.train_dataloader.dataset)
            sums = torch.zeros(len(classnames), text.embeddings.shape[1])
            for res5, masks, labels in images:
                small = F.interpolate(masks[None], size=res5.shape[-2:], mode='bilinear',
                                      align_corners=False)
                pooled, _ = mask_pool(res5, small)
                embeds = self.backbone.project_trunk_features(pooled[0][..., None, None])
                sums.index_add_(0, labels, F.normalize(embeds.flatten(1), dim=-1))
            prototypes[id(self)] = F.normalize(sums, dim=-1)
        return dataclasses.replace(text, embeddings=prototypes[id(self)])

    monkeypatch.setattr(FCCLIP, 'encode_vocabulary', encode_vocabulary)


@torch.no_grad()
def held_out_accuracy(model, cfg: Config) -> float:
    """Share of the held-out images' ground-truth segments that the adapter names right."""
    classnames, images = _segments(model, cfg.val_dataloader.dataset)
    text = model.encode_vocabulary(classnames)
    right = total = 0
    for res5, masks, labels in images:
        embeds = model.adapter_mask_embeddings(res5, masks[None])[0]
        scores = F.normalize(embeds, dim=-1) @ text.embeddings.T
        right += int((text.reduce_synonyms(scores, dim=-1).argmax(-1) == labels).sum())
        total += len(labels)
    return right / total


@pytest.mark.slow
def test_adapter_trains_and_classifies_held_out_masks_better(tmp_path, one_thread,
                                                             aligned_text):
    work = str(tmp_path / 'work')
    options = ['train_cfg.max_iters=100', 'param_scheduler.0.end=100',
               'default_hooks.checkpoint.interval=100', 'train_cfg.val_interval=1000']
    runner = train_tool.main([CONFIG, '--work-dir', work, '--cfg-options', *options])
    history = runner.message_hub.get_scalar('train/loss').data[0]
    print(f'loss: first 20 iterations {history[:20].mean():.3f}, last 20 {history[-20:].mean():.3f}')
    assert history[-20:].mean() < 0.9 * history[:20].mean(), 'the loss must fall'

    cfg = Config.fromfile(CONFIG)
    state = torch.load(os.path.join(work, 'iter_100.pth'), weights_only=True)['state_dict']
    trained, untrained = _model(cfg).eval(), _model(cfg).eval()
    trained.load_state_dict(state)
    frozen = {k: v for k, v in state.items()
              if not k.startswith(('mask_adapter.', 'void_embedding'))}
    untrained.load_state_dict(frozen, strict=False)  # same CLIP and segmenter, fresh adapter
    before, after = held_out_accuracy(untrained, cfg), held_out_accuracy(trained, cfg)
    print(f'held-out mask accuracy: untrained {before:.3f}, trained {after:.3f}')
    assert after > before + 0.15 and after > 0.5
