"""Auto-annotation: folders and videos in, labelled datasets out.

``formats/`` holds one module per dataset format (COCO, YOLO, Pascal VOC, Label Studio,
CVAT) behind a registry (``DATASET_FORMATS``, ``write_dataset``): pure functions from
:class:`ImageRecord`\\ s and :class:`ObjectAnnotation`\\ s to files, usable without a model
(the web app calls them). ``job.py`` runs a resumable, shardable annotation of many
inputs, ``merge.py`` brings the datasets up to date from its manifest, ``run.py`` is the
whole command (``tools/annotate.py``); docs/annotation.md describes the whole flow.
"""
from ovperception.annotation.formats import (DATASET_FORMATS, DatasetFormat, ExportOptions,
                                             parse_formats, register_format, write_dataset)
from ovperception.annotation.predictions import TASKS, infer_task, sample_to_objects
from ovperception.annotation.records import ImageRecord, ObjectAnnotation, unique_names

__all__ = ['DATASET_FORMATS', 'DatasetFormat', 'ExportOptions', 'ImageRecord',
           'ObjectAnnotation', 'TASKS', 'infer_task', 'parse_formats', 'register_format',
           'sample_to_objects', 'unique_names', 'write_dataset']
