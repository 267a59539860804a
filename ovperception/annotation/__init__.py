"""Auto-annotation: folders and videos in, labelled datasets out.

``formats/`` holds one module per dataset format (COCO, YOLO, Pascal VOC, Label Studio,
CVAT) behind a registry (``DATASET_FORMATS``, ``write_dataset``): pure functions from
:class:`ImageRecord`\\ s and :class:`ObjectAnnotation`\\ s to files, usable without a model
(the web app calls them). ``job.py`` runs a resumable, shardable annotation of many
inputs, ``merge.py`` brings the datasets up to date from its manifest, ``run.py`` is the
whole command (``tools/annotate.py``); docs/annotation.md describes the whole flow.
"""
from ovperception.utils.cli import lazy_attributes

#: Public names and the module that defines each; imported on first use, so that
#: ``ovperception.annotation.settings`` (the command line) loads without torch.
_EXPORTS = {
    'DATASET_FORMATS': 'formats', 'DatasetFormat': 'formats', 'ExportOptions': 'formats',
    'parse_formats': 'formats', 'register_format': 'formats', 'write_dataset': 'formats',
    'TASKS': 'settings', 'infer_task': 'predictions', 'sample_to_objects': 'predictions',
    'ImageRecord': 'records', 'ObjectAnnotation': 'records', 'unique_names': 'records',
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_attributes(globals(), {name: f'{__name__}.{module}'
                                          for name, module in _EXPORTS.items()})
