"""ExCEL's DenseCRF post-processing (segmenter_cfg.crf): official place and settings, the metric
of tools/test.py computed from the CRF predictions."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from ovperception.models.refiners.dense_crf import DenseCRF
from ovperception.structures import OVDataSample
from tests.models.test_dense_crf import golden_case
from tests.models.test_excel_segmenter import tiny_model

#: 21 head classes, background first (the golden rgb case has 21 classes).
HEAD21 = ['background'] + [f'class {i}' for i in range(1, 21)]


def tiny21(**segmenter_cfg) -> torch.nn.Module:
    return tiny_model(seg_head=dict(type='ExCELSegHead', in_channels=64, num_layers=4,
                                    embed_dim=16, num_classes=21, decoder_layers=1,
                                    decoder_heads=2),
                      head_classes=HEAD21,
                      segmenter_cfg=dict(size=64, scales=(1.0,), **segmenter_cfg)).eval()


@pytest.mark.parametrize('uint8_input', [True, False])
def test_prediction_matches_the_official_crf_proc(uint8_input: bool, monkeypatch) -> None:
    """The golden msc logits (at 0.2 x the image) in place of the segmenter's: the model's
    labels and seg_logits are the official crf_proc's, from a uint8 or a normalised input."""
    image, logits, marginals, labels = golden_case('rgb')
    model = tiny21(crf=dict(type='DenseCRF', iter_max=10, pos_xy_std=1, pos_w=3, bi_xy_std=67,
                            bi_rgb_std=3, bi_w=4))
    monkeypatch.setattr(model, 'segmenter_logits', lambda normalised: logits[0])
    height, width = image.shape[-2:]
    sample = OVDataSample(metainfo=dict(classnames=HEAD21, ori_shape=(height, width),
                                        img_shape=(height, width)))
    inputs = image[None] if uint8_input else model.data_preprocessor.normalize(image)[None]
    (out,) = model.predict(inputs, [sample])
    assert (out.pred_sem_seg.data[0].numpy() == labels).all()
    np.testing.assert_allclose(out.seg_logits.data.numpy(), marginals, rtol=0, atol=1e-6)


def test_crf_is_off_by_default_and_relabels_a_sub_vocabulary(monkeypatch) -> None:
    image, logits, _, _ = golden_case('rgb')
    plain, crf = tiny21(), tiny21(crf=dict())
    assert plain.crf is None and plain.segmenter_cfg['crf'] is None
    assert isinstance(crf.crf, DenseCRF) and crf.crf.bi_xy_std == 67.0
    assert set(crf.state_dict()) == set(plain.state_dict())  # checkpoints load either way
    assert copy.deepcopy(crf.crf).iter_max == 10 and pickle.loads(pickle.dumps(crf.crf)).bi_w == 4
    vocabulary = ['class 3', 'background', 'class 7']
    outputs = []
    for model in (plain, crf):
        monkeypatch.setattr(model, 'segmenter_logits', lambda normalised: logits[0])
        sample = OVDataSample(metainfo=dict(classnames=vocabulary, ori_shape=(37, 53)))
        outputs.append(model.predict(image[None], [sample])[0])
    # without the CRF seg_logits are the resized logits of the vocabulary's classes; with it,
    # the marginals of the CRF on their softmax
    selected = outputs[0].seg_logits.data
    expected = DenseCRF()(image, selected.softmax(0))
    torch.testing.assert_close(outputs[1].seg_logits.data, expected, rtol=0, atol=0)
    assert torch.equal(outputs[1].pred_sem_seg.data[0], expected.argmax(0))
    assert not torch.equal(outputs[0].pred_sem_seg.data, outputs[1].pred_sem_seg.data)


def test_crf_configuration_errors_are_one_line() -> None:
    for cfg, match in ((dict(crf=dict(iters=5)), r"unknown segmenter_cfg.crf keys \['iters'\]"),
                       (dict(crf=dict(bi_rgb_std=0)), 'bi_rgb_std must be'),
                       (dict(crf=dict(), predict_from='pseudo_masks'), "predict_from='segmenter'"),
                       (dict(crf='yes'), 'must be None or a dict')):
        with pytest.raises(ValueError, match=match) as error:
            tiny_model(segmenter_cfg=cfg)
        assert '\n' not in str(error.value)


@pytest.mark.slow
def test_tools_test_evaluates_the_crf_predictions(tmp_path, monkeypatch) -> None:
    """tools/test.py on the tiny trained-segmenter config (random head): CRF with no step gives
    the metric without CRF; a strong CRF runs once per image and changes it."""
    import os

    from tests.scripts import ROOT, test_tool
    config = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel_train.py')
    calls = []
    forward = DenseCRF.forward

    def counted(self, image, probs):
        calls.append(tuple(probs.shape))
        return forward(self, image, probs)

    monkeypatch.setattr(DenseCRF, 'forward', counted)

    def miou(*options: str) -> float:
        work = str(tmp_path / f'run{len(os.listdir(tmp_path))}')
        args = [config, '--work-dir', work, '--max-images', '2', '--cfg-options',
                'randomness.seed=0', *options]
        return test_tool.main(args)['mIoU']

    plain = miou()
    assert calls == []
    # workers=1: the CRFs run in this process, where the patched forward counts them
    assert miou('model.segmenter_cfg.crf.iter_max=0',
                'model.segmenter_cfg.crf.workers=1') == pytest.approx(plain, abs=1e-9)
    assert calls == [(4, 64, 96)] * 2
    strong = miou('model.segmenter_cfg.crf.pos_w=50', 'model.segmenter_cfg.crf.bi_w=50',
                  'model.segmenter_cfg.crf.workers=1')
    assert len(calls) == 4 and abs(strong - plain) > 1e-3
