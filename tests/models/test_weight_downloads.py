"""Weights downloaded on first use from a local hub (127.0.0.1): open_clip tags, hf-hub:
models, the default demo config; offline failures within 2 s with the fix."""
from __future__ import annotations

import io
import json
import os
import time

import pytest
import torch
from safetensors.torch import save

from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.weights import WeightsNotFoundError
from tests.tiny import TINY_CLIP_KWARGS

OPENAI_REPO = 'timm/vit_base_patch16_clip_224.openai'  # open_clip's hf_hub of ViT-B-16 openai


def _state_bytes(backbone: OpenCLIPBackbone) -> bytes:
    buffer = io.BytesIO()
    torch.save(backbone.model.state_dict(), buffer)
    return buffer.getvalue()


def _images() -> torch.Tensor:
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def test_uncached_tag_downloads_from_the_hub_into_its_cache(local_hub, capsys):
    source = OpenCLIPBackbone('ViT-B-16', model_kwargs=dict(TINY_CLIP_KWARGS, quick_gelu=True))
    local_hub.add(OPENAI_REPO, 'open_clip_pytorch_model.bin', _state_bytes(source))
    backbone = OpenCLIPBackbone('ViT-B-16', 'openai', model_kwargs=TINY_CLIP_KWARGS)
    assert backbone.weights_id == 'ViT-B-16:openai'
    torch.testing.assert_close(backbone.dense_features(_images()),
                               source.dense_features(_images()))
    assert os.path.isdir(os.path.join(local_hub.cache_dir,
                                      'models--timm--vit_base_patch16_clip_224.openai'))
    assert 'open_clip_pytorch_model.bin' in capsys.readouterr().err  # hub progress bar
    # The safetensors file is asked for first (absent here), then the .bin; next time: cache.
    gets = [path for method, path in local_hub.requests if method == 'GET']
    OpenCLIPBackbone('ViT-B-16', 'openai', model_kwargs=TINY_CLIP_KWARGS)
    assert [path for method, path in local_hub.requests if method == 'GET'] == gets


def test_hf_hub_model_names_bring_their_architecture_and_weights(local_hub):
    source = OpenCLIPBackbone('ViT-B-16', model_kwargs=TINY_CLIP_KWARGS)
    config = dict(model_cfg=TINY_CLIP_KWARGS,
                  preprocess_cfg=dict(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]))
    local_hub.add('ovp-test/tiny-clip', 'open_clip_config.json', json.dumps(config).encode())
    local_hub.add('ovp-test/tiny-clip', 'open_clip_model.safetensors',
                  save({k: v.contiguous() for k, v in source.model.state_dict().items()}))
    backbone = OpenCLIPBackbone('hf-hub:ovp-test/tiny-clip', dense_mode='sclip')
    torch.testing.assert_close(backbone.model.visual.conv1.weight, source.visual.conv1.weight)
    assert backbone.mean == (127.5,) * 3 and backbone.std == (63.75,) * 3
    assert backbone.encode_text(['a cat', 'a dog']).shape == (2, 32)
    with pytest.raises(WeightsNotFoundError, match='takes its weights from the hub'):
        OpenCLIPBackbone('hf-hub:ovp-test/tiny-clip', pretrained='openai')


@pytest.mark.parametrize('model_name, pretrained', [('ViT-B-16', 'openai'),
                                                    ('hf-hub:ovp-test/none', None)])
def test_offline_fails_within_two_seconds_with_the_fix(local_hub, monkeypatch, model_name,
                                                       pretrained):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as error:
        OpenCLIPBackbone(model_name, pretrained, model_kwargs=TINY_CLIP_KWARGS)
    assert time.monotonic() - start < 2.0
    assert 'HF_HUB_OFFLINE=1 is set' in str(error.value) and 'Fix:' in str(error.value)
    assert local_hub.requests == []
    # No route to the hub (nothing listens there): also fast, also with the fix.
    monkeypatch.setenv('HF_HUB_OFFLINE', '0')
    from huggingface_hub import constants
    monkeypatch.setattr(constants, 'ENDPOINT', 'https://hub.invalid')
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match='no route to hub.invalid'):
        OpenCLIPBackbone(model_name, pretrained, model_kwargs=TINY_CLIP_KWARGS)
    assert time.monotonic() - start < 2.0


@pytest.mark.slow
def test_default_demo_config_downloads_its_weights_and_runs(local_hub, tmp_path, capsys):
    """demo/image_demo.py with its default config (SCLIP ViT-B/16 'openai'): the weights come
    from the hub on first use. The architecture is shrunk with --cfg-options so the served
    checkpoint stays tiny."""
    import numpy as np
    from PIL import Image

    from tests.scripts import demo
    source = OpenCLIPBackbone('ViT-B-16', model_kwargs=dict(TINY_CLIP_KWARGS, quick_gelu=True))
    local_hub.add(OPENAI_REPO, 'open_clip_model.safetensors',
                  save({k: v.contiguous() for k, v in source.model.state_dict().items()}))
    image = tmp_path / 'in.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)).save(image)
    vision, text = TINY_CLIP_KWARGS['vision_cfg'], TINY_CLIP_KWARGS['text_cfg']
    options = [f'model.backbone.model_kwargs.embed_dim={TINY_CLIP_KWARGS["embed_dim"]}',
               *(f'model.backbone.model_kwargs.vision_cfg.{k}={v}' for k, v in vision.items()),
               *(f'model.backbone.model_kwargs.text_cfg.{k}={v}' for k, v in text.items()),
               'model.test_cfg.crop_size=64', 'model.test_cfg.stride=32',
               'model.template_set=single']
    assert demo.main([str(image), '--vocab', 'cat, dog', '--out', str(tmp_path / 'out'),
                      '--device', 'cpu', '--cfg-options', *options]) == 0
    assert 'open_clip_model.safetensors' in capsys.readouterr().err  # the progress bar
    assert sorted(os.listdir(tmp_path / 'out')) == ['in.json', 'in_labels.png', 'in_overlay.png']


def test_corrupt_hub_weights_are_never_used(local_hub):
    """The issue's case: the right size with 16 flipped bytes. The backbone refuses them in
    one line naming the file, keeps nothing, and works once the server is healthy."""
    from ovperception.utils.download import ChecksumMismatchError
    source = OpenCLIPBackbone('ViT-B-16', model_kwargs=dict(TINY_CLIP_KWARGS, quick_gelu=True))
    local_hub.add(OPENAI_REPO, 'open_clip_pytorch_model.bin', _state_bytes(source))
    local_hub.fail[f'{OPENAI_REPO}/open_clip_pytorch_model.bin'] = 'corrupt'
    with pytest.raises(ChecksumMismatchError, match='open_clip_pytorch_model.bin') as error:
        OpenCLIPBackbone('ViT-B-16', 'openai', model_kwargs=TINY_CLIP_KWARGS)
    assert '\n' not in str(error.value) and 'Fix:' in str(error.value)
    blobs = os.path.join(local_hub.cache_dir, 'models--timm--vit_base_patch16_clip_224.openai',
                         'blobs')
    assert [n for n in os.listdir(blobs) if not n.endswith('.incomplete')] == []
    del local_hub.fail[f'{OPENAI_REPO}/open_clip_pytorch_model.bin']
    backbone = OpenCLIPBackbone('ViT-B-16', 'openai', model_kwargs=TINY_CLIP_KWARGS)
    torch.testing.assert_close(backbone.dense_features(_images()),
                               source.dense_features(_images()))


def test_corrupt_open_clip_config_is_refused_then_fetched_again(local_hub):
    source = OpenCLIPBackbone('ViT-B-16', model_kwargs=TINY_CLIP_KWARGS)
    config = json.dumps(dict(model_cfg=TINY_CLIP_KWARGS)).encode()
    local_hub.add('ovp-test/tiny-clip', 'open_clip_config.json', config)
    local_hub.add('ovp-test/tiny-clip', 'open_clip_model.safetensors',
                  save({k: v.contiguous() for k, v in source.model.state_dict().items()}))
    local_hub.fail['ovp-test/tiny-clip/open_clip_config.json'] = 'corrupt'
    with pytest.raises(Exception, match='open_clip_config.json.*git-sha1'):
        OpenCLIPBackbone('hf-hub:ovp-test/tiny-clip')
    del local_hub.fail['ovp-test/tiny-clip/open_clip_config.json']
    OpenCLIPBackbone('hf-hub:ovp-test/tiny-clip')  # the rerun asks the healthy server again
    config_gets = [p for p in local_hub.gets() if p.endswith('open_clip_config.json')]
    assert len(config_gets) == 2
