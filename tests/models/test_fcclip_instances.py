"""FC-CLIP instance predictions evaluated by CocoMetric (mask and box AP) via tools/test.py."""
from __future__ import annotations

import os

import pytest

from tests.scripts import ROOT, test_tool

TINY_FCCLIP = os.path.join(ROOT, 'configs', 'tiny', 'fcclip_tiny.py')

pytestmark = pytest.mark.usefixtures('one_thread')


def test_tiny_config_reports_mask_and_box_ap_beside_pq_and_miou(tmp_path):
    metrics = test_tool.main([TINY_FCCLIP, '--work-dir', str(tmp_path), '--max-images', '4'])
    for key in ('coco/segm_mAP', 'coco/segm_mAP_50', 'coco/bbox_mAP', 'PQ', 'mIoU'):
        assert key in metrics
    for key in ('coco/segm_mAP', 'coco/bbox_mAP'):
        assert 0.0 <= metrics[key] <= 1.0  # a random model: any valid AP
