"""Writer for anomaly detection: heatmap overlay and a JSON record with score and verdict."""
from __future__ import annotations

import os

import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.atomic import atomic_save_image, atomic_write_json
from ovperception.visualization import draw_heatmap
from ovperception.writers.registry import register_writer


def anomaly_record(sample: OVDataSample, source_path: str) -> dict:
    """JSON-ready summary: image score, threshold, verdict and map statistics.

    ``verdict`` is ``'anomalous'`` / ``'normal'`` when the sample carries an
    ``anomaly_threshold`` (score >= threshold is anomalous), else ``None``.
    """
    amap = sample.pred_anomaly_map.data[0].float().cpu().numpy()
    score = float(sample.pred_score) if 'pred_score' in sample else float(amap.max())
    threshold = sample.metainfo.get('anomaly_threshold')
    verdict = None if threshold is None else ('anomalous' if score >= threshold else 'normal')
    classnames = sample.metainfo.get('classnames') or ['object']
    return dict(file_name=os.path.abspath(source_path), object=classnames[0],
                score=score, threshold=threshold, verdict=verdict,
                map_height=int(amap.shape[0]), map_width=int(amap.shape[1]),
                map_max=float(amap.max()), map_mean=float(amap.mean()),
                map_argmax_yx=[int(v) for v in np.unravel_index(int(amap.argmax()), amap.shape)])


@register_writer('pred_anomaly_map', suffixes=('_anomaly.png', '_anomaly.json'))
def write_anomaly(targets: dict[str, str], image: np.ndarray, sample: OVDataSample,
                  source_path: str) -> None:
    """Heatmap (scores 0..1 on a fixed colour scale) over the image, titled with the verdict."""
    record = anomaly_record(sample, source_path)
    title = f'anomaly score {record["score"]:.3f}'
    if record['verdict'] is not None:
        title += f' ({record["verdict"]}, threshold {record["threshold"]:.3f})'
    overlay = draw_heatmap(image, sample.pred_anomaly_map.data[0].float().cpu().numpy(),
                           value_range=(0.0, 1.0), title=title)
    atomic_save_image(targets['_anomaly.png'], overlay)
    atomic_write_json(targets['_anomaly.json'], record)
