"""Zero-shot anomaly detection: the anomaly model, WinCLIP / AnoVL, AnomalyCLIP, AdaCLIP and
AnomalyDINO heads, MuSc (mutual scoring of image sets), state prompts, WinCLIP windows,
few-shot memory, losses, AnomalyCLIP's DPAM and checkpoint converter."""
from ovperception.models.anomaly import convert  # noqa: F401  (registers 'anomalyclip')
from ovperception.models.anomaly import adaclip_convert  # noqa: F401  (registers 'adaclip')
from ovperception.models.anomaly.anomaly_model import OVAnomalyModel
from ovperception.models.anomaly.adaclip import ADACLIP_RELEASED_LAYERS, AdaCLIPHead
from ovperception.models.anomaly.anomalydino import AnomalyDINOHead
from ovperception.models.anomaly.heads import (ANOMALYCLIP_FOUR_LAYERS,
                                               ANOMALYCLIP_RELEASED_LAYERS, AnomalyCLIPHead,
                                               WinCLIPHead)
from ovperception.models.anomaly.losses import dice_loss, focal_loss
from ovperception.models.anomaly.musc import MuScModel
from ovperception.models.anomaly.window_scores import (harmonic_fusion, harmonic_patch_scores,
                                                       memory_distance, window_indices)

__all__ = ['OVAnomalyModel', 'AdaCLIPHead', 'ADACLIP_RELEASED_LAYERS', 'AnomalyCLIPHead',
           'ANOMALYCLIP_RELEASED_LAYERS', 'ANOMALYCLIP_FOUR_LAYERS', 'AnomalyDINOHead', 'MuScModel', 'WinCLIPHead',
           'dice_loss', 'focal_loss', 'harmonic_fusion', 'harmonic_patch_scores',
           'memory_distance', 'window_indices']
