"""Datasets and transforms; importing this package registers them."""
from ovperception.datasets import transforms  # noqa: F401  (registers TRANSFORMS)
from ovperception.datasets.base import (ClassnamesError, DatasetNotFoundError, OVBaseDataset,
                                        load_classnames, parse_classnames)
from ovperception.datasets.segmentation import (ADE20KDataset, CityscapesDataset,
                                                COCOObjectDataset, COCOStuffDataset,
                                                FolderSegDataset, OVSegDataset,
                                                PascalContext59Dataset, PascalContext60Dataset,
                                                PascalVOC20Dataset, PascalVOCDataset)
from ovperception.datasets.synthetic import SyntheticSegDataset, write_synthetic_folder
from ovperception.datasets.coco_panoptic import COCOPanopticDataset, LoadPanopticAnnotations
from ovperception.datasets.segmentation_full import ADE20KFullDataset, PascalContext459Dataset
from ovperception.datasets.synthetic_panoptic import SyntheticPanopticDataset

__all__ = [
    'ClassnamesError', 'DatasetNotFoundError', 'OVBaseDataset', 'OVSegDataset',
    'load_classnames', 'parse_classnames', 'ADE20KDataset', 'CityscapesDataset',
    'COCOObjectDataset', 'COCOStuffDataset', 'FolderSegDataset', 'PascalContext59Dataset',
    'PascalContext60Dataset', 'PascalVOC20Dataset', 'PascalVOCDataset', 'SyntheticSegDataset',
    'write_synthetic_folder', 'COCOPanopticDataset', 'LoadPanopticAnnotations',
    'ADE20KFullDataset', 'PascalContext459Dataset', 'SyntheticPanopticDataset'
]
