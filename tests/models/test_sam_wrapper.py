"""SAMWrapper on a tiny random SAM: checkpoints, prompts, automatic masks, helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError
from ovperception.models.refiners.mask_ops import masks_to_boxes, point_grid, stability_score
from ovperception.models.refiners.sam import SAMWrapper, resized_size


@pytest.fixture(scope='module')
def sam() -> SAMWrapper:
    torch.manual_seed(0)
    return SAMWrapper('tiny')


@pytest.fixture(scope='module')
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8)


def test_set_image_shapes(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image)
    assert state.original_size == (40, 56)
    assert state.input_size == resized_size(40, 56, 64) == (46, 64)
    assert tuple(state.embeddings.shape) == (1, 32, 4, 4)
    assert tuple(sam.image_features(state).shape) == (32, 3, 4)
    # Tensor input (3, H, W) float 0..255 gives the same encoding as the uint8 array.
    tensor_state = sam.set_image(torch.from_numpy(image).permute(2, 0, 1).float())
    torch.testing.assert_close(tensor_state.embeddings, state.embeddings)


def test_predict_shapes(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image)
    points = torch.tensor([[[10.0, 12.0], [30.0, 20.0]], [[5.0, 5.0], [50.0, 35.0]]])
    labels = torch.tensor([[1, 0], [1, 1]])
    out = sam.predict(state, points=points, point_labels=labels)
    assert out.masks.dtype == torch.bool and tuple(out.masks.shape) == (2, 1, 40, 56)
    assert tuple(out.iou_scores.shape) == (2, 1)
    assert tuple(out.low_res_logits.shape) == (2, 1, 16, 16)
    boxes = torch.tensor([[0.0, 0.0, 20.0, 30.0], [10.0, 5.0, 55.0, 39.0], [1, 1, 2, 2]])
    out = sam.predict(state, boxes=boxes, multimask=True, return_logits=True)
    assert tuple(out.masks.shape) == (3, 3, 40, 56) and tuple(out.iou_scores.shape) == (3, 3)
    torch.testing.assert_close(out.masks, out.logits > 0)
    # SAM-convention 256x256 mask prompts are resized to the tiny model's mask input size.
    masks = torch.randn(2, 1, 256, 256)
    out = sam.predict(state, points=points, point_labels=labels, mask_inputs=masks)
    assert tuple(out.masks.shape) == (2, 1, 40, 56)
    # The low-res logits feed back as mask prompts of the same result.
    again = sam.predict(state, boxes=boxes[:2], mask_inputs=out.low_res_logits)
    assert tuple(again.masks.shape) == (2, 1, 40, 56)


def test_predict_batches_match_one_pass(image: np.ndarray) -> None:
    torch.manual_seed(1)
    one = SAMWrapper('tiny', prompt_batch_size=64)
    chunked = SAMWrapper('tiny', prompt_batch_size=2)
    chunked.load_state_dict(one.state_dict())
    state = one.set_image(image)
    boxes = torch.tensor([[0.0, 0.0, 20.0, 30.0], [10.0, 5.0, 55.0, 39.0], [3, 4, 30, 30.0]])
    a, b = one.predict(state, boxes=boxes), chunked.predict(state, boxes=boxes)
    torch.testing.assert_close(a.iou_scores, b.iou_scores)
    assert torch.equal(a.masks, b.masks)


def test_zero_prompts(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image)
    out = sam.predict(state, points=torch.zeros(0, 1, 2), point_labels=torch.zeros(0, 1))
    assert tuple(out.masks.shape) == (0, 1, 40, 56) and len(out) == 0
    assert tuple(out.iou_scores.shape) == (0, 1)
    out = sam.predict(state, boxes=torch.zeros(0, 4), multimask=True)
    assert tuple(out.masks.shape) == (0, 3, 40, 56)


def test_bad_prompts(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image)
    with pytest.raises(ValueError, match='at least one'):
        sam.predict(state)
    with pytest.raises(ValueError, match='point_labels'):
        sam.predict(state, points=torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match='counts differ'):
        sam.predict(state, boxes=torch.zeros(2, 4), points=torch.zeros(1, 1, 2),
                    point_labels=torch.ones(1, 1))
    with pytest.raises(ValueError, match='RGB'):
        sam.set_image(np.zeros((8, 8), dtype=np.uint8))


def test_checkpoint_round_trip(tmp_path, image: np.ndarray) -> None:
    torch.manual_seed(3)
    source = SAMWrapper('tiny')
    path = tmp_path / 'sam_tiny.pth'
    torch.save(source.model.state_dict(), path)
    torch.manual_seed(4)
    loaded = SAMWrapper('tiny', checkpoint=str(path))
    state_a, state_b = source.set_image(image), loaded.set_image(image)
    assert torch.equal(state_a.embeddings, state_b.embeddings)
    boxes = torch.tensor([[2.0, 3.0, 40.0, 30.0]])
    a, b = source.predict(state_a, boxes=boxes), loaded.predict(state_b, boxes=boxes)
    assert torch.equal(a.iou_scores, b.iou_scores) and torch.equal(a.masks, b.masks)
    # A saved wrapper (keys prefixed with 'model.') loads too.
    torch.save(source.state_dict(), tmp_path / 'wrapper.pth')
    wrapped = SAMWrapper('tiny', checkpoint=str(tmp_path / 'wrapper.pth'))
    assert torch.equal(wrapped.set_image(image).embeddings, state_a.embeddings)
    # A random model differs, so the comparison above can fail.
    torch.manual_seed(5)
    assert not torch.equal(SAMWrapper('tiny').set_image(image).embeddings, state_a.embeddings)


def test_missing_checkpoint(tmp_path) -> None:
    missing = str(tmp_path / 'sam_vit_b_01ec64.pth')
    with pytest.raises(WeightsNotFoundError) as info:
        SAMWrapper('tiny', checkpoint=missing)
    assert missing in str(info.value) and '--sam-checkpoint PATH' in str(info.value)


def test_missing_official_checkpoint_names_url(tmp_path) -> None:
    from ovperception.models.refiners.sam import SAM_CHECKPOINT_URLS
    missing = str(tmp_path / 'nowhere.pth')
    with pytest.raises(WeightsNotFoundError) as info:  # raised before building a ViT-B
        SAMWrapper('vit_b', checkpoint=missing)
    assert SAM_CHECKPOINT_URLS['vit_b'] in str(info.value)


def test_mismatched_checkpoint(tmp_path) -> None:
    other = SAMWrapper('tiny', tiny_kwargs=dict(embed_dim=48))
    path = tmp_path / 'other.pth'
    torch.save(other.model.state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        SAMWrapper('tiny', checkpoint=str(path))
    state = SAMWrapper('tiny').model.state_dict()
    state.pop('mask_decoder.iou_token.weight')
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        SAMWrapper('tiny', checkpoint=str(tmp_path / 'partial.pth'))


def test_automatic_masks_runs(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image)
    masks = sam.automatic_masks(state, points_per_side=4, points_per_batch=5)
    assert isinstance(masks, list)
    loose = sam.automatic_masks(state, points_per_side=4, points_per_batch=5,
                                pred_iou_thresh=-1e9, stability_score_thresh=0.0,
                                box_nms_thresh=1.0)
    assert len(loose) == 16 * 3  # every grid point's three masks, nothing filtered
    deduplicated = sam.automatic_masks(state, points_per_side=4, points_per_batch=5,
                                       pred_iou_thresh=-1e9, stability_score_thresh=0.0)
    assert len(masks) <= len(deduplicated) < len(loose)  # box NMS removed near-duplicates
    for record in loose:
        assert record['segmentation'].shape == (40, 56)
        assert record['segmentation'].dtype == bool
        assert record['area'] == int(record['segmentation'].sum()) >= 1
        x1, y1, x2, y2 = record['bbox']
        ys, xs = np.nonzero(record['segmentation'])
        assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max(), ys.max())
    ious = [record['predicted_iou'] for record in loose]
    assert ious == sorted(ious, reverse=True)


def test_point_grid_known_answer() -> None:
    expected = torch.tensor([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    torch.testing.assert_close(point_grid(2), expected)
    torch.testing.assert_close(point_grid(1), torch.tensor([[0.5, 0.5]]))
    grid = point_grid(32)
    assert grid.shape == (1024, 2) and grid.min() > 0 and grid.max() < 1
    with pytest.raises(ValueError):
        point_grid(0)


def test_stability_score_known_answer() -> None:
    logits = torch.tensor([[[2.0, 0.5], [-0.5, -2.0]],    # >1: 1 pixel, >-1: 3 pixels
                           [[-3.0, -3.0], [-3.0, -3.0]],  # empty -> 0
                           [[5.0, 5.0], [5.0, 5.0]]])     # fully stable -> 1
    torch.testing.assert_close(stability_score(logits), torch.tensor([1 / 3, 0.0, 1.0]))
    torch.testing.assert_close(stability_score(logits[:1], offset=0.25),
                               torch.tensor([2 / 2]))


def test_masks_to_boxes_known_answer() -> None:
    masks = torch.zeros(2, 5, 6, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    boxes = masks_to_boxes(masks)
    torch.testing.assert_close(boxes, torch.tensor([[2.0, 1.0, 4.0, 2.0], [0, 0, 0, 0]]))
    exclusive = masks_to_boxes(masks, exclusive_end=True)  # COCO boxes; empty stays zeros
    torch.testing.assert_close(exclusive, torch.tensor([[2.0, 1.0, 5.0, 3.0], [0, 0, 0, 0]]))
    assert masks_to_boxes(torch.zeros(0, 3, 3, dtype=torch.bool)).shape == (0, 4)


def test_mask_input_frame(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image)  # 40 x 56 -> 46 x 64 inside the 64 x 64 square
    maps = torch.full((2, 20, 28), 5.0)
    mask_inputs = sam.to_mask_input(maps, state, fill=-7.0)
    assert mask_inputs.shape == (2, 1, 16, 16)
    # The image covers the top 46/64 of the 16-row frame (12 rows), the rest is padding.
    torch.testing.assert_close(mask_inputs[:, :, :12], torch.full((2, 1, 12, 16), 5.0))
    assert (mask_inputs[:, :, 12:] == -7.0).all()
    out = sam.predict(state, boxes=torch.tensor([[1.0, 1, 20, 20], [5, 5, 50, 35]]),
                      mask_inputs=mask_inputs)
    assert out.masks.shape == (2, 1, 40, 56)


def test_keep_qkv_shapes_and_valid_grid(sam: SAMWrapper, image: np.ndarray) -> None:
    state = sam.set_image(image, keep_qkv=True)
    heads, head_dim = 2, 16  # tiny: embed_dim 32, 2 heads
    assert state.last_qkv.shape == (3, heads, 3, 4, head_dim)
    assert sam.valid_grid(state.input_size) == (3, 4) == tuple(sam.image_features(state).shape[1:])
    assert sam.last_block_scale == pytest.approx(head_dim ** -0.5)


def test_official_checkpoint_is_downloaded_and_verified(local_hub, tmp_path, monkeypatch) -> None:
    import hashlib
    import io

    from ovperception.models.refiners import sam as sam_module
    from ovperception.utils.download import ChecksumMismatchError
    source = SAMWrapper('tiny')
    buffer = io.BytesIO()
    torch.save(source.model.state_dict(), buffer)
    url = local_hub.add_url('sam_vit_b_01ec64.pth', buffer.getvalue())
    monkeypatch.setitem(sam_module.SAM_CHECKPOINT_URLS, 'vit_b', url)
    monkeypatch.setitem(sam_module.SAM_CHECKPOINT_SHA256, 'vit_b', 'ec2df627')
    cache = tmp_path / 'sam_cache'
    with pytest.raises(ChecksumMismatchError, match='not the official release'):
        sam_module.official_sam_checkpoint('vit_b', str(cache))
    assert list(cache.iterdir()) == []  # the rejected download is not kept
    monkeypatch.setitem(sam_module.SAM_CHECKPOINT_SHA256, 'vit_b',
                        hashlib.sha256(buffer.getvalue()).hexdigest())
    path = sam_module.official_sam_checkpoint('vit_b', str(cache))
    loaded = SAMWrapper('tiny', checkpoint=path)
    image = np.zeros((40, 60, 3), np.uint8)
    assert torch.equal(loaded.set_image(image).embeddings, source.set_image(image).embeddings)
    from tests.scripts import load_script  # tools/download_weights.py --sam: same function
    tool = load_script('tools/download_weights.py')
    assert tool.main(['--sam', 'vit_b', '--cache-dir', str(cache)]) == 0
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')  # cached: offline is fine
    assert sam_module.official_sam_checkpoint('vit_b', str(cache)) == path
    with pytest.raises(WeightsNotFoundError, match='HF_HUB_OFFLINE=1 is set'):
        sam_module.official_sam_checkpoint('vit_l', str(cache))
