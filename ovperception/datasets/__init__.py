"""Datasets and transforms; importing this package registers them."""
from ovperception.datasets import transforms  # noqa: F401  (registers TRANSFORMS)
from ovperception.datasets import detection_transforms  # noqa: F401  (registers TRANSFORMS)
from ovperception.datasets import counting_transforms  # noqa: F401  (registers TRANSFORMS)
from ovperception.datasets.anomaly import (FolderAnomalyDataset, LoadAnomalyMask,
                                           MVTecADDataset, PackAnomalyInputs, ResizeAnomaly,
                                           VisADataset)
from ovperception.datasets.anomaly_mosaic import AnomalyMosaic
from ovperception.datasets.base import (ClassnamesError, DatasetNotFoundError, OVBaseDataset,
                                        load_classnames, parse_classnames)
from ovperception.datasets import clip_transforms  # noqa: F401  (registers TRANSFORMS)
from ovperception.datasets.countbench import (CountBenchDataset, PackCaptionCountInputs,
                                              SyntheticCountCaptionDataset)
from ovperception.datasets.coco_panoptic import COCOPanopticDataset, LoadPanopticAnnotations
from ovperception.datasets.counting import (FSC147Dataset, NWPUCrowdDataset, ShanghaiTechDataset,
                                            UCFQNRFDataset)
from ovperception.datasets.image_tags import ImageTagsFromMask
from ovperception.datasets.detection import CocoDetDataset, LVISDetDataset, OVCOCODataset
from ovperception.datasets.segmentation import (ADE20KDataset, CityscapesDataset,
                                                COCO2014Dataset, COCOObjectDataset,
                                                COCOStuffDataset, FolderSegDataset, OVSegDataset,
                                                PascalContext59Dataset, PascalContext60Dataset,
                                                PascalVOC20Dataset, PascalVOCAugDataset,
                                                PascalVOCDataset)
from ovperception.datasets.segmentation_full import ADE20KFullDataset, PascalContext459Dataset
from ovperception.datasets.synthetic import SyntheticSegDataset, write_synthetic_folder
from ovperception.datasets.synthetic_anomaly import SyntheticAnomalyDataset, write_mvtec_tree
from ovperception.datasets.synthetic_counting import SyntheticCountingDataset
from ovperception.datasets.synthetic_detection import SyntheticDetDataset
from ovperception.datasets.synthetic_panoptic import SyntheticPanopticDataset
from ovperception.datasets.tagged import TaggedImageDataset
from ovperception.datasets.zero_shot import SeenClassesOnly

__all__ = ['AnomalyMosaic', 'CountBenchDataset', 'FolderAnomalyDataset', 'LoadAnomalyMask',
           'MVTecADDataset', 'PackAnomalyInputs', 'PackCaptionCountInputs',
           'SyntheticCountCaptionDataset',
           'ResizeAnomaly', 'VisADataset', 'ClassnamesError', 'DatasetNotFoundError',
           'OVBaseDataset',
           'load_classnames', 'parse_classnames', 'FSC147Dataset', 'NWPUCrowdDataset',
           'ShanghaiTechDataset', 'UCFQNRFDataset', 'COCO2014Dataset', 'CocoDetDataset',
           'LVISDetDataset',
           'OVCOCODataset', 'ADE20KDataset', 'CityscapesDataset', 'COCOObjectDataset',
           'COCOStuffDataset', 'FolderSegDataset', 'ImageTagsFromMask', 'OVSegDataset', 'PascalContext59Dataset',
           'PascalContext60Dataset', 'PascalVOC20Dataset', 'PascalVOCDataset',
           'SeenClassesOnly', 'SyntheticSegDataset', 'write_synthetic_folder', 'SyntheticAnomalyDataset',
           'write_mvtec_tree', 'SyntheticCountingDataset', 'SyntheticDetDataset',
           'COCOPanopticDataset', 'LoadPanopticAnnotations', 'ADE20KFullDataset',
           'PascalContext459Dataset', 'SyntheticPanopticDataset',
           'PascalVOCAugDataset', 'TaggedImageDataset']
