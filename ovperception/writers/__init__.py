"""Output writers: one file per task, each turning a predicted sample into files on disk.

A writer is registered for the prediction field it reads (``pred_sem_seg``,
``pred_instances``, ``pred_density``, ``pred_anomaly_map`` ...);
:func:`write_predictions` runs every writer whose field the sample holds, so one
demo serves every task. All files are written atomically and never over an input.
"""
from ovperception.writers import anomaly, counting, detection, panoptic, segmentation  # noqa: F401
from ovperception.writers.registry import (OUTPUT_WRITERS, output_stems, register_writer,
                                           write_predictions)

__all__ = ['OUTPUT_WRITERS', 'output_stems', 'register_writer', 'write_predictions']
