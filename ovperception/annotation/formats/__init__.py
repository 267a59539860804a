"""Dataset formats (one module each) and their registry: pure functions from image
records and objects to files. ``DATASET_FORMATS`` maps a name to its writer."""
from ovperception.annotation.formats import coco, cvat, labelstudio, voc, yolo  # noqa: F401
from ovperception.annotation.formats.registry import (DATASET_FORMATS, DatasetFormat,
                                                      ExportOptions, Reuse,
                                                      parse_formats, register_format,
                                                      write_dataset)

__all__ = ['DATASET_FORMATS', 'DatasetFormat', 'ExportOptions', 'parse_formats', 'register_format',
           'Reuse', 'write_dataset']
