"""Datasets and transforms; importing this package registers them."""
from ovperception.datasets import transforms  # noqa: F401  (registers TRANSFORMS)
from ovperception.datasets.anomaly import (LoadAnomalyMask, MVTecADDataset, PackAnomalyInputs,
                                           ResizeAnomaly, VisADataset)
from ovperception.datasets.base import (ClassnamesError, DatasetNotFoundError, OVBaseDataset,
                                        load_classnames, parse_classnames)
from ovperception.datasets.segmentation import (ADE20KDataset, CityscapesDataset,
                                                COCOObjectDataset, COCOStuffDataset,
                                                FolderSegDataset, OVSegDataset,
                                                PascalContext59Dataset, PascalContext60Dataset,
                                                PascalVOC20Dataset, PascalVOCDataset)
from ovperception.datasets.synthetic import SyntheticSegDataset, write_synthetic_folder
from ovperception.datasets.synthetic_anomaly import SyntheticAnomalyDataset, write_mvtec_tree

__all__ = [
    'LoadAnomalyMask', 'MVTecADDataset', 'PackAnomalyInputs', 'ResizeAnomaly', 'VisADataset',
    'SyntheticAnomalyDataset', 'write_mvtec_tree',
    'ClassnamesError', 'DatasetNotFoundError', 'OVBaseDataset', 'OVSegDataset',
    'load_classnames', 'parse_classnames', 'ADE20KDataset', 'CityscapesDataset',
    'COCOObjectDataset', 'COCOStuffDataset', 'FolderSegDataset', 'PascalContext59Dataset',
    'PascalContext60Dataset', 'PascalVOC20Dataset', 'PascalVOCDataset', 'SyntheticSegDataset',
    'write_synthetic_folder'
]
