"""What ``tools/annotate.py`` accepts: its settings, choices and exit statuses.

Importing this module costs no more than the standard library, so the command can parse and
check its arguments (and answer ``--help``) before torch and the models are imported.
``predictions`` and ``distributed`` take ``TASKS`` and ``LAUNCHERS`` from here;
``FORMAT_NAMES`` is checked against the format registry (``DATASET_FORMATS``) by a test.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ovperception.utils.cli import INTERRUPTED_EXIT_STATUS

#: What the tool can annotate (``--task``).
TASKS = ('seg', 'det', 'panoptic', 'count', 'anomaly')
#: How processes are started (``--launcher``).
LAUNCHERS = ('none', 'pytorch')
#: The registered dataset formats, in the order ``--format`` and its default list them.
FORMAT_NAMES = ('coco', 'yolo', 'voc', 'labelstudio', 'cvat')


@dataclass
class AnnotateSettings:
    """The command line of ``tools/annotate.py`` (see its ``--help``)."""

    source: str
    vocab: str | None
    out: str
    config: str | None = None
    weights: str | None = None
    task: str | None = None
    formats: str = ','.join(FORMAT_NAMES)
    device: str = 'auto'
    frame_stride: int = 1
    max_frames: int | None = None
    min_area: int | None = None
    score_thr: float | None = None
    anomaly_threshold: float | None = None
    overlays: bool = False
    copy_images: bool = False
    image_root: str | None = None
    image_base: str | None = None
    launcher: str = 'none'
    seed: int = 0
    cfg_options: dict = field(default_factory=dict)
    progress: bool = True
    tags_from: str | None = None


#: Exit status when every dataset is written but some inputs could not be read.
EXIT_PARTIAL = 3
#: Exit status after Ctrl-C or SIGTERM (every tool's, see ``utils.cli.run_cli``).
EXIT_INTERRUPTED = INTERRUPTED_EXIT_STATUS
#: The tasks each task-specific option applies to.
TASK_OPTIONS = {'min_area': ('seg', 'anomaly'), 'score_thr': ('det', 'count'),
                'anomaly_threshold': ('anomaly',)}
