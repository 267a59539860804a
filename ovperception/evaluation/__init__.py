"""Metrics; importing this package registers them in ``METRICS``."""
from ovperception.evaluation.anomaly import AnomalyMetric
from ovperception.evaluation.coco_metric import CocoMetric, LVISMetric
from ovperception.evaluation.counting_metric import CountingMetric, counting_errors
from ovperception.evaluation.iou_metric import IoUMetric, areas_to_metrics, intersect_and_union
from ovperception.evaluation.panoptic_metric import PanopticMetric, pq_statistics, pq_summary
from ovperception.evaluation.zero_shot_iou import ZeroShotIoUMetric, harmonic_iou

__all__ = ['AnomalyMetric', 'CocoMetric', 'LVISMetric', 'CountingMetric', 'counting_errors',
           'IoUMetric', 'areas_to_metrics', 'intersect_and_union', 'PanopticMetric',
           'pq_statistics', 'pq_summary', 'ZeroShotIoUMetric', 'harmonic_iou']
