"""Mask-Adapter against the official code (tests/fixtures/golden/maskadapter/NOTE.md): the
adapter's activation maps and the pooled mask embeddings / class scores; converted weights
load into FC-CLIP with the adapter, whose out-of-vocabulary classifier then uses it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ovperception.models.conversion import get_converter
from ovperception.models.panoptic import MaskAdapter
from ovperception.models.panoptic.convert import convert_fcclip
from ovperception.models.panoptic.mask_adapter import activation_pooling
from tests.models.golden import load_into_config_on_meta, official_layout
from tests.models.test_fcclip_golden import build_tiny_official, official_state

GOLDEN = Path(__file__).resolve().parents[1] / 'fixtures' / 'golden' / 'maskadapter' / 'adapter.npz'


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN))


def test_activation_maps_and_class_scores_match_the_official_adapter(golden):
    state = {k: torch.from_numpy(v) for k, v in golden.items() if k.startswith('mask_adapter.')}
    converted = convert_fcclip(state)
    adapter = MaskAdapter(clip_dim=24, mask_in_chans=16, num_channels=32, num_output_maps=4)
    adapter.load_state_dict({k[len('mask_adapter.'):]: v for k, v in converted.items()},
                            strict=True)
    adapter.eval()
    t = {k: torch.from_numpy(v) for k, v in golden.items()}
    with torch.no_grad():
        maps = adapter(t['dense'], t['mask_logits'].sigmoid() > 0.5)
        pooled = activation_pooling(maps, t['res5'])
        pooled = F.layer_norm(pooled, pooled.shape[-1:], t['head_norm_w'], t['head_norm_b'])
        embeds = (pooled @ t['head_proj']).view(2, 3, 4, -1).mean(2)
        logits = 100.0 * F.normalize(embeds, dim=-1) @ t['text'].T
    np.testing.assert_allclose(maps.numpy(), golden['maps'], atol=1e-5)
    np.testing.assert_allclose(embeds.numpy(), golden['embeddings'], atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), golden['logits'], atol=1e-3)
    assert (logits.argmax(-1) == torch.from_numpy(golden['logits']).argmax(-1)).all()


def test_fcclip_with_the_adapter_loads_a_release_and_classifies_through_it():
    model = build_tiny_official(mask_adapter=dict(type='MaskAdapter', mask_in_chans=16,
                                                  num_channels=32, num_output_maps=4),
                                template_set='single')
    reference = MaskAdapter(clip_dim=model.backbone.embed_dim, mask_in_chans=16,
                            num_channels=32, num_output_maps=4)
    release = dict(official_state(), **{'mask_adapter.' + k: v
                                        for k, v in reference.state_dict().items()})
    converter = get_converter('maskadapter')
    assert converter.detect({'model': release})
    model.load_state_dict(converter.convert({'model': release}), strict=True)
    model.eval()
    with torch.no_grad():
        encoded = model.encode_images(torch.randn(1, 3, 64, 64))
        embeds = model.adapter_embeddings(encoded.res5, encoded.mask_logits)
        dense = model.backbone.project_trunk_features(encoded.res5)
        maps = reference(dense, encoded.mask_logits.sigmoid() > 0.5)
        pooled = activation_pooling(maps, encoded.res5)
        expected = model.backbone.project_trunk_features(
            pooled.reshape(-1, pooled.shape[-1], 1, 1)).reshape(1, 8, 4, -1).mean(2)
        text = model.encode_vocabulary(('cat', 'dog'))
        names = text.embeddings[None]
        logits, valid = model.out_vocabulary_logits(encoded.res5, encoded.mask_logits, names,
                                                    text)
    torch.testing.assert_close(embeds, expected)
    assert logits.shape == (1, 8, 2) and bool(valid.all())
    from ovperception.structures import OVDataSample
    sample = OVDataSample(metainfo=dict(classnames=['cat', 'dog'], ori_shape=(50, 60)))
    with torch.no_grad():
        out = model.decode(encoded, [sample])[0]
    assert out.pred_sem_seg.data.shape == (1, 50, 60)
    torch.testing.assert_close(
        logits, text.logit_scale * F.normalize(expected, dim=-1) @ names[0].T)


@pytest.mark.parametrize('method', ['fcclip', 'maftp'])
def test_released_layout_loads_into_the_mask_adapter_configs(method, monkeypatch):
    """FC-CLIP ConvNeXt-L's official layout plus the released adapter's (official
    constructor, 768 channels) load strictly into the Mask-Adapter configs."""
    official = dict(official_layout('fcclip', 'convnext_large'),
                    **official_layout('maskadapter', 'adapter_large'))
    if method == 'maftp':  # MAFT+ releases add the transfer; its layout is tested in test_maftp
        from ovperception.models.panoptic import MAFTContentTransfer
        with torch.device('meta'):
            cdt = MAFTContentTransfer(768, num_heads=8)
        official.update({'cdt.cross_atten.' + k.replace('attn.', 'multihead_attn.', 1)
                         .replace('mlp.', 'MLP.', 1): v for k, v in cdt.state_dict().items()})
    converted = get_converter('maskadapter').convert(official)
    config = f'configs/segmentation/{method}_mask_adapter_convnext_large_ade20k_800.py'
    load_into_config_on_meta(config, converted, monkeypatch)


def test_tiny_adapter_config_runs_in_the_test_tool_demo_and_web_app(tmp_path, one_thread):
    import os

    from ovperception.webapp import AnnotationService, AppSession
    from ovperception.webapp.tasks import configs_for_task, default_configs
    from tests.scripts import ROOT, demo, test_tool
    config = os.path.join(ROOT, 'configs', 'tiny', 'fcclip_tiny_mask_adapter.py')
    metrics = test_tool.main([config, '--work-dir', str(tmp_path / 'test')])
    assert 0 <= metrics['mIoU'] <= 100 and 'PQ' in metrics
    assert 'tiny/fcclip_tiny_mask_adapter.py' in configs_for_task('panoptic')
    assert 'segmentation/fcclip_mask_adapter_convnext_large_ade20k_800.py' in \
        configs_for_task('panoptic')
    assert demo.main(['demo/examples/shapes.png', '--vocab', 'red square, green circle',
                      '--config', config, '--out', str(tmp_path / 'demo')]) == 0
    service = AnnotationService(dict(default_configs(config)))
    session = AppSession.create(str(tmp_path))
    try:
        result = service.run(session, 'demo/examples/shapes.png', 'red square, green circle',
                             'panoptic')
        assert os.path.isfile(result.overlay)
    finally:
        session.close()
