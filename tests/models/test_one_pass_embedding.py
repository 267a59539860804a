"""``dense_intermediates_and_embedding``: MuSc's block tokens and image embedding from one ViT
pass, bit for bit what the two separate passes gave."""
from __future__ import annotations

import pytest
import torch

from ovperception.models.anomaly import MuScModel
from ovperception.models.anomaly.musc_aggregation import normalise_token_map
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from tests.tiny_anomaly import TINY_ANOMALY_BACKBONE


def build(cfgs, kind: str = 'vit', **kwargs) -> OpenCLIPBackbone:
    name, model_kwargs = cfgs[kind]
    return OpenCLIPBackbone(name, model_kwargs=model_kwargs, **kwargs)


def images(h: int = 64, w: int = 64, b: int = 2) -> torch.Tensor:
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(5))


def count_block_calls(backbone: OpenCLIPBackbone) -> list[int]:
    """Forward hooks on every ViT block; returns the live per-block call counts."""
    counts = [0] * len(backbone.visual.transformer.resblocks)
    for i, block in enumerate(backbone.visual.transformer.resblocks):
        def hook(*_, i: int = i) -> None:
            counts[i] += 1
        block.register_forward_hook(hook)
    return counts


def assert_same_as_two_passes(backbone, x, indices) -> None:
    want_maps = backbone.dense_intermediates(x, list(indices))
    want_embedding = backbone.image_embedding(x)
    maps, embedding = backbone.dense_intermediates_and_embedding(x, indices)
    assert torch.equal(embedding, want_embedding)
    assert len(maps) == len(want_maps)
    for got, want in zip(maps, want_maps):
        assert torch.equal(got, want)


@pytest.mark.parametrize('dense_mode', ['vanilla', 'maskclip', 'naclip'])
@pytest.mark.parametrize('indices', [(0, 1), (-1, 0), (0,)])
def test_one_vit_pass_equals_the_two_passes(tiny_clip_configs, dense_mode, indices):
    backbone = build(tiny_clip_configs, dense_mode=dense_mode).eval()
    x = images()
    with torch.no_grad():
        assert_same_as_two_passes(backbone, x, indices)
        counts = count_block_calls(backbone)
        backbone.dense_intermediates_and_embedding(x, indices)
    assert counts == [1, 1]  # every block once, for the whole batch


def test_drop_remainder_is_one_pass_and_pad_remainder_two(tiny_clip_configs):
    x = images(70, 50)
    with torch.no_grad():
        for remainder, calls in (('drop', 1), ('pad', 2), ('centre_pad', 2)):
            backbone = build(tiny_clip_configs, grid_remainder=remainder).eval()
            assert_same_as_two_passes(backbone, x, (0, 1))
            counts = count_block_calls(backbone)
            backbone.dense_intermediates_and_embedding(x, (0, 1))
            assert counts == [calls, calls], remainder


@pytest.mark.parametrize('kind', ['resnet', 'convnext'])
def test_cnn_towers_give_the_two_passes(tiny_clip_configs, kind):
    backbone = build(tiny_clip_configs, kind, dense_mode='maskclip').eval()
    with torch.no_grad():
        assert_same_as_two_passes(backbone, images(64, 64), (0, 3))


def test_musc_encode_runs_the_vit_once_with_unchanged_features():
    model = MuScModel(dict(TINY_ANOMALY_BACKBONE, dense_mode='vanilla'),
                      feature_layers=(0, 1)).eval()
    backbone, x = model.backbone, images(b=3)
    with torch.no_grad():
        old_maps = backbone.dense_intermediates(x, [0, 1])
        old_embeddings = torch.nn.functional.normalize(backbone.image_embedding(x).float(), dim=-1)
    counts = count_block_calls(backbone)
    maps, embeddings = model.encode(x)
    assert counts == [1, 1]
    assert torch.equal(embeddings, old_embeddings)
    for got, old in zip(maps, old_maps):
        assert torch.equal(got, normalise_token_map(old))
