"""CAT-Seg: cost aggregation for open-vocabulary semantic segmentation."""
from ovperception.models.catseg.aggregator import CostAggregator, cost_volume
from ovperception.models.catseg.catseg import CATSeg

__all__ = ['CATSeg', 'CostAggregator', 'cost_volume']
from ovperception.models.catseg import convert  # noqa: F401,E402  (registers 'catseg')
