"""Anomaly detection metrics (image / pixel AUROC, AP, F1-max, AUPRO)."""
from ovperception.evaluation.anomaly.anomaly_metric import AnomalyMetric
from ovperception.evaluation.anomaly.aupro import aupro, pro_curve, thresholded_aupro
from ovperception.evaluation.anomaly.curves import (average_precision, binary_clf_curve, f1_max,
                                                    image_ap, image_auroc, image_f1_max, pixel_ap,
                                                    pixel_auroc, pixel_f1_max, roc_auc)

__all__ = ['AnomalyMetric', 'aupro', 'pro_curve', 'thresholded_aupro', 'average_precision',
           'binary_clf_curve',
           'f1_max', 'image_ap', 'image_auroc', 'image_f1_max', 'pixel_ap', 'pixel_auroc',
           'pixel_f1_max', 'roc_auc']
