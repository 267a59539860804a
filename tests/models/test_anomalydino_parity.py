"""AnomalyDINO against its official code (tests/fixtures/golden/anomalydino/NOTE.md): the
official DINOv2 layout converts and loads, the 448-px-style resize and crop, patch distances,
foreground masks, image scores, smoothed maps and the official metrics on tiny seeded
weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from ovperception.datasets.anomaly import ResizeAnomaly
from ovperception.evaluation import AnomalyMetric
from ovperception.models.anomaly import AnomalyDINOHead, OVAnomalyModel
from ovperception.models.anomaly.anomalydino import IMAGENET_MEAN, IMAGENET_STD
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners.dino import DINOEncoder, convert_official_dino
from ovperception.structures import OVDataSample
from ovperception.utils.smoothing import smooth_anomaly_map
from tests.models.golden import load_golden

GOLDEN = load_golden('anomalydino', 'tiny_anomalydino.npz')
TEST_ORDER = [5, 6, 7, 2, 3, 4]  # images of the fixture: crack 0..2, good 0..2 (sorted keys)
# run -> (masking, rotation, reference indices, knn, short edge)
RUNS = dict(mask_norot_1shot_seed0=(True, False, [0], 1, 112),
            nomask_rot_1shot_seed1=(False, True, [1], 1, 112),
            mask_rot_2shot_k3=(True, True, [0, 1], 3, 112),
            mask_rot_1shot_native=(True, True, [0], 1, 60))
TOL = dict(rtol=0, atol=2e-5)


@pytest.fixture(scope='module')
def encoder() -> DINOEncoder:
    enc = DINOEncoder('vit_small_patch14_dinov2', pos_embed_resize='bicubic_offset',
                      model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=98))
    official = {k[len('weights.'):]: torch.from_numpy(v) for k, v in GOLDEN.items()
                if k.startswith('weights.')}
    enc.model.load_state_dict(convert_official_dino(official), strict=True)
    return enc


def model_of(encoder: DINOEncoder, masking: bool, rotation: bool, knn: int) -> OVAnomalyModel:
    head = AnomalyDINOHead(masking=dict(capsule=masking), rotation=dict(capsule=rotation),
                           knn=knn)
    return OVAnomalyModel(encoder, head, data_preprocessor=dict(
        type=OVDataPreprocessor, mean=IMAGENET_MEAN, std=IMAGENET_STD)).eval()


def prepared(model: OVAnomalyModel, index: int, edge: int) -> torch.Tensor:
    """Fixture image ``index`` resized as the config (PIL bicubic, short edge) and normalised."""
    img = ResizeAnomaly(short_edge=edge, backend='pillow')(dict(img=GOLDEN['images'][index]))
    chw = torch.from_numpy(np.ascontiguousarray(img['img'].transpose(2, 0, 1)))
    return model.data_preprocessor.normalize(chw)


def test_resize_crop_and_features_match_the_official_wrapper(encoder):
    model = model_of(encoder, False, False, 1)
    image = prepared(model, 2, 112)
    assert tuple(image.shape[-2:]) == (112, 123)  # torchvision Resize(112) of 60x66
    assert torch.allclose(image[:, :112, :112], torch.from_numpy(GOLDEN['prepared_test0']),
                          rtol=0, atol=1e-5)
    features = encoder(image[None, :, :112, :112], IMAGENET_MEAN, IMAGENET_STD).patches
    ours = features.flatten(2).transpose(1, 2)[0]
    assert torch.allclose(ours, torch.from_numpy(GOLDEN['features_test0']), rtol=0, atol=1e-4)


@pytest.mark.parametrize('run', list(RUNS))
def test_distances_masks_scores_and_maps_match_the_official_code(encoder, run):
    masking, rotation, references, knn, edge = RUNS[run]
    model = model_of(encoder, masking, rotation, knn)
    model.set_normal_references([prepared(model, i, edge) for i in references], 'capsule')
    images = torch.stack([prepared(model, i, edge) for i in TEST_ORDER])
    samples = [OVDataSample(metainfo=dict(classnames=['capsule'])) for _ in TEST_ORDER]
    features = model.head.encode(model.backbone, images)
    grid_maps, scores = model.head.score(features, None, model.normal_memories['capsule'],
                                         'capsule')
    if masking:
        np.testing.assert_array_equal(features.foreground.view(-1, *features.grid).numpy(),
                                      GOLDEN[f'{run}.test_masks'])
    with torch.no_grad():
        out = model.predict(images, samples)
    predicted = torch.stack([s.pred_score for s in out])
    if rotation and edge != 60:
        # rotated after our resize, before it in the official code: close, not equal
        assert np.abs(grid_maps.numpy() - GOLDEN[f'{run}.patch_dists']).max() < 0.05
        assert np.abs(predicted.numpy() - GOLDEN[f'{run}.image_scores']).max() < 0.05
        return
    np.testing.assert_allclose(grid_maps.numpy(), GOLDEN[f'{run}.patch_dists'], **TOL)
    np.testing.assert_allclose(predicted.numpy(), GOLDEN[f'{run}.image_scores'], **TOL)
    # the official map: bilinear to the file's size, then Gaussian sigma 4 (post_eval's tiffs)
    full = F.interpolate(grid_maps[:, None], size=GOLDEN['images'].shape[1:3], mode='bilinear',
                         align_corners=False)[:, 0].numpy()
    smoothed = np.stack([smooth_anomaly_map(m, 4.0) for m in full])
    np.testing.assert_allclose(smoothed, GOLDEN[f'{run}.maps'], rtol=0, atol=1e-5)


def test_official_metrics_equal_ours_on_the_official_maps():
    """post_eval.py's image AUROC / AP / F1, pixel AUROC, MVTec AUPRO (0.3), pixel F1."""
    run = 'mask_norot_1shot_seed0'
    metric = AnomalyMetric(metrics=('image_AUROC', 'image_AP', 'image_F1max', 'pixel_AUROC',
                                    'AUPRO', 'pixel_F1max'), gaussian_sigma=0.0,
                           aupro_variant='mvtec')
    samples = []
    for k, index in enumerate(TEST_ORDER):
        sample = OVDataSample(metainfo=dict(category='capsule'))
        sample.gt_anomaly_map = PixelData(data=torch.from_numpy(
            GOLDEN['masks'][index]).float()[None])
        sample.pred_anomaly_map = PixelData(data=torch.from_numpy(GOLDEN[f'{run}.maps'][k])[None])
        sample.pred_score = torch.tensor(float(GOLDEN[f'{run}.image_scores'][k]))
        samples.append(sample)
    metric.process({}, samples)
    ours = metric.compute_metrics(metric.results)
    official = dict(zip(('image_AUROC', 'image_AP', 'image_F1max', 'pixel_AUROC', 'AUPRO',
                         'pixel_F1max'), GOLDEN[f'{run}.metrics'] * 100))
    for key, value in official.items():
        assert ours[key] == pytest.approx(value, abs=5.1e-3), key  # ours: 2 decimals


def test_without_references_the_head_says_what_to_do(encoder):
    model = model_of(encoder, False, False, 1)
    images = torch.stack([prepared(model, 2, 112)])
    samples = [OVDataSample(metainfo=dict(classnames=['capsule']))]
    with pytest.raises(ValueError, match='AnomalyDINO is few-shot: give normal reference'):
        model.predict(images, samples)
