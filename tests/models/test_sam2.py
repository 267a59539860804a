"""SAM 2 from the ``sam2`` package on tiny random models: the SAMWrapper-compatible
``SAM2Wrapper`` (a drop-in refiner, counting and proposal SAM) and CorrCLIP's region generator."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from ovperception.models.clip.weights import WeightsNotFoundError
from ovperception.models.refiners import SAM2MaskGenerator, SAM2Wrapper

TINY = dict(config='configs/sam2/sam2_hiera_t.yaml', checkpoint=None, overrides='tiny')


@functools.lru_cache(maxsize=None)
def wrapper() -> SAM2Wrapper:
    torch.manual_seed(0)
    return SAM2Wrapper(**TINY).eval()


def image(seed: int = 0) -> np.ndarray:
    return (np.random.RandomState(seed).rand(70, 93, 3) * 255).astype(np.uint8)


def test_masks_match_the_packages_own_image_predictor():
    """Points + boxes, three masks each: logits, IoU and low-res logits equal
    ``SAM2ImagePredictor.predict`` (the package's reference path)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    sam = wrapper()
    points = torch.tensor([[[10.0, 20.0]], [[50.0, 30.0]]])
    labels = torch.ones(2, 1, dtype=torch.long)
    boxes = torch.tensor([[5.0, 5.0, 60.0, 40.0], [10.0, 10.0, 80.0, 60.0]])
    ours = sam.predict(sam.set_image(image()), points=points, point_labels=labels, boxes=boxes,
                       multimask=True, return_logits=True)
    predictor = SAM2ImagePredictor(sam.model)
    size = sam.image_size
    predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8),
                                (size // 16, size // 16)]
    predictor.set_image(image())
    logits, iou, low_res = predictor.predict(
        point_coords=points.numpy(), point_labels=labels.numpy(), box=boxes.numpy(),
        multimask_output=True, return_logits=True)
    assert np.abs(ours.logits.numpy() - logits).max() < 1e-5
    assert np.abs(ours.iou_scores.numpy() - iou).max() < 1e-5
    assert np.abs(ours.low_res_logits.numpy() - low_res).max() < 1e-5
    assert ours.masks.shape == (2, 3, 70, 93)


def test_wrapper_serves_the_sam_interface():
    sam = wrapper()
    state = sam.set_image(torch.from_numpy(image(1)).permute(2, 0, 1).float(),
                          original_size=(140, 186))
    assert sam.set_image(torch.from_numpy(image(1)).permute(2, 0, 1).float(),
                         original_size=(140, 186)) is state  # cached per image
    assert sam.image_features(state).shape == (32, 16, 16)
    masks = sam.predict(state, mask_inputs=sam.to_mask_input(torch.randn(2, 30, 40), state))
    assert masks.masks.shape == (2, 1, 140, 186)
    records = sam.automatic_masks(state, points_per_side=4, pred_iou_thresh=-1e9,
                                  stability_score_thresh=-1e9)
    assert records and records[0]['segmentation'].shape == (140, 186)
    with pytest.raises(NotImplementedError, match='Trident'):
        sam.set_image(image(), keep_qkv=True)


def test_missing_checkpoints_fail_with_the_fix(tmp_path):
    with pytest.raises(WeightsNotFoundError, match='checkpoint file not found'):
        SAM2Wrapper(config='hiera_t', checkpoint=str(tmp_path / 'none.pt'))
    with pytest.raises(ValueError, match='preset'):
        SAM2Wrapper(config='hiera_t', checkpoint=None, overrides='huge')


def test_checkpoint_in_the_official_layout_loads_strictly(tmp_path):
    from ovperception.models.clip.weights import CheckpointMismatchError
    state = {k: v.clone() for k, v in wrapper().model.state_dict().items()}
    torch.save({'model': state}, tmp_path / 'sam2.pt')
    loaded = SAM2Wrapper(**dict(TINY, checkpoint=str(tmp_path / 'sam2.pt')))
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, state[key]), key
    state.pop(next(iter(state)))
    torch.save({'model': state}, tmp_path / 'bad.pt')
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        SAM2Wrapper(**dict(TINY, checkpoint=str(tmp_path / 'bad.pt')))


def test_region_ids_paint_small_masks_first_and_resize_to_ori_shape(monkeypatch):
    """Ids by ascending area (a larger mask overwrites a smaller one, CorrCLIP's order), 0
    where no mask lies, nearest-resized to the sample's ori_shape."""
    from ovperception.structures import OVDataSample
    generator = SAM2MaskGenerator(**TINY, points_per_side=2)
    big = np.zeros((4, 6), bool)
    big[:, :3] = True
    small = np.zeros((4, 6), bool)
    small[1:3, 2:4] = True
    monkeypatch.setattr(generator, 'masks', lambda image: [
        dict(segmentation=big, area=int(big.sum())),
        dict(segmentation=small, area=int(small.sum()))])
    ids = generator.region_ids(torch.zeros(3, 4, 6))
    assert ids.tolist() == [[2, 2, 2, 0, 0, 0], [2, 2, 2, 1, 0, 0], [2, 2, 2, 1, 0, 0],
                            [2, 2, 2, 0, 0, 0]]
    sample = OVDataSample(metainfo=dict(ori_shape=(8, 12)))
    assert generator.region_ids(torch.zeros(3, 4, 6), sample).shape == (8, 12)
    monkeypatch.undo()
    assert generator.region_ids(torch.from_numpy(image()).permute(2, 0, 1).float()).shape \
        == (70, 93)


def test_trident_refines_with_sam2_while_sam_aggregates():
    """Trident keeps SAM ViT for its attention aggregation and refines with SAM 2."""
    import os

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ovperception.registry import MODELS
    from tests.models.golden import predict_image
    from tests.scripts import ROOT
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_trident.py'))
    cfg.model.head.refine_sam = dict(type='SAM2Wrapper', **TINY)
    init_default_scope('ovperception')
    model = MODELS.build(cfg.model).eval()
    assert type(model.head.refiner_sam).__name__ == 'SAM2Wrapper'
    assert type(model.head.sam).__name__ == 'SAMWrapper'
    calls = []
    encode = model.head.refiner_sam.set_image
    model.head.refiner_sam.set_image = lambda *a, **k: calls.append(1) or encode(*a, **k)
    result = predict_image(model, image().transpose(2, 0, 1).copy(), ['cat', 'dog'])
    assert result.pred_sem_seg.data.shape[-2:] == (70, 93) and calls
    cfg.model.head.update(sam_refine_style='official', aggregate_on='tokens')
    with pytest.raises(ValueError, match='refine_sam'):
        MODELS.build(cfg.model)
