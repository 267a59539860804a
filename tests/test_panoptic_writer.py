"""The pred_panoptic_seg writer: COCO-panoptic PNG + JSON round trip."""
from __future__ import annotations

import json

import numpy as np
import torch
from mmengine.structures import PixelData
from PIL import Image

from ovperception.structures import OVDataSample
from ovperception.utils.panoptic import INSTANCE_OFFSET, rgb_to_id
from ovperception.writers import write_predictions


def test_panoptic_writer_round_trip(tmp_path):
    panoptic = torch.tensor([[[0, 0, 1 + INSTANCE_OFFSET], [-1, 1 + 2 * INSTANCE_OFFSET, 0]]])
    sample = OVDataSample(metainfo=dict(label_names=['sky', 'car'], segments_info=[
        dict(id=0, label=0, is_thing=False, score=0.9, area=3)]))
    sample.pred_panoptic_seg = PixelData(data=panoptic)
    written = write_predictions(str(tmp_path / 'in' / 'x.png'), np.zeros((2, 3, 3), np.uint8),
                                sample, str(tmp_path), [])
    assert sorted(p.rsplit('/', 1)[1] for p in written) == [
        'x_panoptic.json', 'x_panoptic.png', 'x_panoptic_overlay.png']
    ids = rgb_to_id(np.asarray(Image.open(tmp_path / 'x_panoptic.png')))
    info = json.loads((tmp_path / 'x_panoptic.json').read_text())
    by_id = {s['id']: s for s in info['segments_info']}
    assert ids[1, 0] == 0, 'void pixels have id 0'
    assert by_id[ids[0, 0]]['label_name'] == 'sky' and by_id[ids[0, 0]]['area'] == 3
    assert by_id[ids[0, 0]]['isthing'] is False and by_id[ids[0, 0]]['score'] == 0.9
    assert ids[0, 2] != ids[1, 1] and by_id[ids[0, 2]]['label_name'] == 'car'
