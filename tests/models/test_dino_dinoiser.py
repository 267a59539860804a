"""CLIP-DINOiser: pooling parity, FOUND-style masks, background filter, training, checkpoints."""
from __future__ import annotations

import os

import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError
from ovperception.models.segmentation import SaliencyFilteredHead
from ovperception.models.refiners.dino import DINOEncoder
from ovperception.models.refiners.dinoiser import (CLIPDINOiserBackbone, CLIPDINOiserDistiller,
                                                   found_foreground, patch_correlations,
                                                   weighted_pool)
from ovperception.structures import OVDataSample
from tests.tiny import TINY_CLIP_KWARGS
from tests.tiny_dino import TINY_DINO_KWARGS
from tests.scripts import test_tool, train_tool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_dinoiser_train.py')


def naive_weighted_pool(feats, corr, gamma, eps=1e-6):
    b, c, h, w = feats.shape
    flat = feats.flatten(2)
    out = torch.zeros_like(flat)
    for i in range(b):
        for p in range(h * w):
            weights = [float(corr[i, p, q]) if corr[i, p, q] >= gamma else 0.0
                       for q in range(h * w)]
            total = sum(weights)
            out[i, :, p] = sum(wq * flat[i, :, q] for q, wq in enumerate(weights)) / (total + eps)
    return out.reshape(b, c, h, w)


def test_weighted_pool_matches_the_naive_loop():
    torch.manual_seed(0)
    feats = torch.randn(2, 5, 3, 4)
    corr = patch_correlations(torch.randn(2, 6, 3, 4))
    torch.testing.assert_close(weighted_pool(feats, corr, 0.2),
                               naive_weighted_pool(feats, corr, 0.2), atol=1e-5, rtol=1e-4)


def test_patch_correlations_are_cosines():
    feats = torch.tensor([[[[3.0, 0.0]], [[0.0, 2.0]]]])  # (1, 2, 1, 2): orthogonal patches
    assert torch.allclose(patch_correlations(feats), torch.eye(2)[None])


def test_found_foreground_known_answer():
    """Seed = least-attended patch 2; patch 3 has the seed's key -> both background."""
    keys = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, 0.05]])
    q = torch.zeros(1, 1, 5, 2)
    q[0, 0, 0] = torch.tensor([4.0, 0.0])           # class token prefers +x keys
    k = keys[None, None]
    mask = found_foreground(q, k, (2, 2), num_prefix=1, tau=0.5)
    assert mask.tolist() == [[[[1.0, 1.0], [0.0, 0.0]]]]


def text_for(names, dim=32):
    vocab = Vocabulary.parse(names)
    emb = torch.nn.functional.normalize(torch.randn(len(vocab.names), dim), dim=-1)
    return TextEmbeddings(vocab, emb, torch.tensor(vocab.name_to_class), 100.0)


def test_saliency_filter_rule_known_answer():
    """Uncertain & not salient -> background; confident or salient pixels keep their class."""
    head = SaliencyFilteredHead(logit_scale=1.0, confidence_threshold=0.9, background_index=0)
    text = text_for(['background', 'cat'])
    # 4 pixels: (confident, salient) combinations; cosines chosen for the softmax at scale 1
    cosine = torch.tensor([[0.0, 0.0, 0.0, 0.0], [5.0, 0.1, 5.0, 0.1]]).reshape(2, 1, 4)
    saliency = torch.tensor([0.2, 0.2, 0.9, 0.9]).reshape(1, 1, 4)
    sample = OVDataSample(metainfo=dict(ori_shape=(1, 4)))
    head.predict([torch.cat([cosine, saliency])], text, [sample])
    assert sample.pred_sem_seg.data[0, 0].tolist() == [1, 0, 1, 1]
    plain = OVDataSample(metainfo=dict(ori_shape=(1, 4)))
    head.predict([cosine], text, [plain])                     # no channel: parent's labels
    assert plain.pred_sem_seg.data[0, 0].tolist() == [1, 1, 1, 1]


def test_saliency_head_passes_the_channel_through_forward():
    head = SaliencyFilteredHead()
    text = text_for(['a', 'b', 'c'])
    feats = torch.randn(2, 33, 3, 4)
    out = head(feats, text)
    assert out.shape == (2, 4, 3, 4) and torch.equal(out[:, -1], feats[:, -1])
    with pytest.raises(ValueError, match='channels'):
        head(torch.randn(1, 40, 2, 2), text)


def tiny_backbone(**kwargs) -> CLIPDINOiserBackbone:
    torch.manual_seed(0)
    clip = OpenCLIPBackbone('ViT-B-16', None, dense_mode='maskclip',
                            model_kwargs=TINY_CLIP_KWARGS)
    return CLIPDINOiserBackbone(clip, **{'feature_layer': 0, 'proj_channels': 8, **kwargs})


def tiny_teacher() -> DINOEncoder:
    torch.manual_seed(1)
    return DINOEncoder('vit_small_patch16_224', model_kwargs=TINY_DINO_KWARGS)


def test_intermediates_are_the_ln2_output_of_the_chosen_block():
    backbone = tiny_backbone()
    images = torch.randn(1, 3, 32, 48)
    feats, inter = backbone.clip_features(images)
    assert feats.shape == (1, 32, 2, 3) and inter.shape == (1, 64, 2, 3)
    block = backbone.clip.visual.transformer.resblocks[0]
    with torch.no_grad():
        x = backbone.clip._vit_embed(images)[0]
        after_attention = x + block.ls_1(block.attention(block.ln_1(x)))
        expected = block.ln_2(after_attention)[:, 1:].transpose(1, 2).reshape(1, 64, 2, 3)
    torch.testing.assert_close(inter, expected)


def test_dense_features_pool_maskclip_features_and_append_saliency():
    backbone = tiny_backbone(append_saliency=True)
    images = torch.randn(2, 3, 40, 64)
    out = backbone.dense_features(images)
    feats, inter = backbone.clip_features(images)
    expected = weighted_pool(feats, backbone.predicted_correlations(inter), 0.2)
    torch.testing.assert_close(out[:, :32], expected)
    assert out.shape == (2, 33, 3, 4) and ((out[:, 32] >= 0) & (out[:, 32] <= 1)).all()


def test_training_steps_reduce_the_distillation_loss():
    backbone, teacher = tiny_backbone(), tiny_teacher()
    params = [p for p in backbone.parameters() if p.requires_grad]
    assert {id(p) for p in params} == {id(p) for p in [*backbone.obj_proj.parameters(),
                                                       *backbone.saliency.parameters()]}
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    torch.manual_seed(2)
    images = torch.randn(2, 3, 48, 48)
    losses = []
    for _ in range(20):
        loss = sum(backbone.distillation_loss(images, teacher).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses[::4]


def test_distiller_checkpoint_has_no_teacher_and_loads_into_ovmodel(tmp_path):
    backbone = tiny_backbone()
    distiller = CLIPDINOiserDistiller(backbone, SaliencyFilteredHead(), teacher=tiny_teacher(),
                                      template_set='single')
    assert not any(k.startswith('teacher') for k in distiller.state_dict())
    with torch.no_grad():
        backbone.obj_proj.weight.normal_()
    path = tmp_path / 'convs.pth'
    torch.save({'state_dict': distiller.state_dict()}, path)
    fresh = tiny_backbone(weights=str(path))
    torch.testing.assert_close(fresh.obj_proj.weight, backbone.obj_proj.weight)


def test_official_release_layout_loads(tmp_path):
    source = tiny_backbone()
    state = {'obj_proj.weight': source.obj_proj.weight, 'obj_proj.bias': source.obj_proj.bias,
             'bkg_decoder.weight': torch.full_like(source.saliency.weight, 0.5),
             'bkg_decoder.bias': source.saliency.bias}
    path = tmp_path / 'last.pt'
    torch.save({'epoch': 99, 'model_state_dict': state}, path)
    loaded = tiny_backbone(weights=str(path))
    assert torch.all(loaded.saliency.weight == 0.5)


def test_conv_weights_errors(tmp_path):
    with pytest.raises(WeightsNotFoundError, match='last.pt') as info:
        tiny_backbone(weights=str(tmp_path / 'last.pt'))
    assert 'tools/train.py' in str(info.value)
    path = tmp_path / 'wrong.pt'
    torch.save({'obj_proj.weight': torch.zeros(4, 64, 3, 3)}, path)
    with pytest.raises(CheckpointMismatchError):
        tiny_backbone(weights=str(path))


def test_dinoiser_model_predicts_tiny_images_and_absent_classes():
    model = OVModel(tiny_backbone(append_saliency=True),
                    SaliencyFilteredHead(logit_scale=40.0, background_index=0),
                    template_set='single', test_cfg=dict(mode='slide', crop_size=64, stride=32))
    samples = [OVDataSample(metainfo=dict(classnames=['background', 'cat', 'unicorn']))]
    data = model.data_preprocessor(dict(
        inputs=[torch.randint(0, 255, (3, 12, 20), dtype=torch.uint8)], data_samples=samples))
    out = model.predict(data['inputs'], data['data_samples'])[0]
    assert out.pred_sem_seg.data.shape == (1, 12, 20)
    assert isinstance(out.pred_sem_seg, PixelData)


def test_train_tool_reduces_loss_and_checkpoint_evaluates(tmp_path):
    work = str(tmp_path / 'work')
    runner = train_tool.main([TINY_TRAIN, '--work-dir', work, '--cfg-options',
                              'train_cfg.max_iters=40', 'train_cfg.val_interval=40',
                              'default_hooks.checkpoint.interval=40'])
    history = runner.message_hub.get_scalar('train/loss_corr').data[0]
    assert history[-10:].mean() < history[:10].mean(), 'the correlation loss must fall'
    metrics = test_tool.main([TINY_TRAIN, '--work-dir', str(tmp_path / 'test'),
                              '--weights', os.path.join(work, 'iter_40.pth')])
    assert 0.0 <= metrics['mIoU'] <= 100.0
    trained = runner.model.backbone
    reloaded = tiny_backbone(weights=os.path.join(work, 'iter_40.pth'), proj_channels=16)
    torch.testing.assert_close(reloaded.obj_proj.weight, trained.obj_proj.weight.cpu())
    torch.testing.assert_close(reloaded.saliency.bias, trained.saliency.bias.cpu())


def test_real_training_config_reads_an_unlabelled_image_folder(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from PIL import Image

    from ovperception.registry import DATASETS
    for name in ('n01/a.JPEG', 'n02/b.JPEG'):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new('RGB', (500, 460), (10, 200, 30)).save(tmp_path / name, format='JPEG')
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'segmentation',
                                       'clip_dinoiser_vitb16_imagenet_train_448.py'))
    assert cfg.model.type is CLIPDINOiserDistiller and cfg.model.backbone.weights is None
    init_default_scope('ovperception')
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, img_dir=str(tmp_path)))
    item = dataset[0]
    assert len(dataset) == 2 and tuple(item['inputs'].shape) == (3, 448, 448)
    assert 'gt_sem_seg' not in item['data_samples']
