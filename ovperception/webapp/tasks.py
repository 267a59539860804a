"""The tasks the app offers and the model configs that serve each of them."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass

#: The repository's ``configs/`` folder (the app lists configs from it).
CONFIG_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'configs')


@dataclass(frozen=True)
class TaskSpec:
    """One task of the app.

    Attributes:
        label: what the page shows.
        config: the default full-size config (relative to ``configs/``).
        tiny_config: the default when the app runs tiny random models (tests, smoke runs).
        patterns: globs (relative to ``configs/``) of the configs that serve this task.
        vocabulary_hint: placeholder text of the vocabulary box.
    """

    label: str
    config: str
    tiny_config: str
    patterns: tuple[str, ...]
    vocabulary_hint: str


#: The app's tasks by the names ``tools/annotate.py`` gives them.
ANNOTATION_TASKS = {'semantic': 'seg', 'panoptic': 'panoptic', 'detection': 'det',
                    'counting': 'count', 'anomaly': 'anomaly'}

TASKS: dict[str, TaskSpec] = {
    'semantic': TaskSpec('semantic segmentation', 'segmentation/sclip_vitb16_ade20k_336.py',
                         'tiny/seg_tiny.py',
                         ('segmentation/[!f]*_vitb16_*.py', 'tiny/seg_tiny*.py'),
                         'cat, sofa; couch, floor'),
    'panoptic': TaskSpec('panoptic segmentation', 'segmentation/fcclip_convnext_large_ade20k_panoptic_640.py',
                         'tiny/fcclip_tiny.py',
                         ('segmentation/fcclip_*.py', 'tiny/fcclip_tiny.py'), 'person, car, road'),
    'detection': TaskSpec('detection', 'detection/ovdet_cc_vitb16_ov_coco.py', 'tiny/det_tiny.py',
                          ('detection/*.py', 'tiny/det_tiny*.py'), 'cat, dog'),
    'counting': TaskSpec('counting', 'counting/pseco_zeroshot_vitb16_fsc147.py',
                         'tiny/count_tiny_zeroshot.py',
                         ('counting/*.py', 'tiny/count_tiny*.py'), 'apple'),
    'anomaly': TaskSpec('anomaly detection', 'anomaly/winclip_vitb16plus_mvtec.py',
                        'tiny/anomaly_tiny_winclip.py',
                        ('anomaly/winclip_vitb16plus_*.py', 'anomaly/anovl_*.py',
                         'tiny/anomaly_tiny_winclip.py'), 'screw (the object inspected)'),
}


def configs_for_task(task: str, root: str = CONFIG_ROOT) -> list[str]:
    """Config paths (relative to ``root``) that serve ``task``, sorted; training configs out."""
    spec = TASKS[task]
    found = {os.path.relpath(path, root) for pattern in spec.patterns
             for path in glob.glob(os.path.join(root, pattern))}
    return sorted(path for path in found if not path.endswith('_train.py'))


def default_configs(config: str | None, root: str = CONFIG_ROOT) -> dict[str, str]:
    """The config each task starts with.

    ``config`` (the command line's ``--config``) is the default of the task it serves; when it
    is a tiny config, every other task starts from its tiny config too, so a smoke run never
    needs real weights.
    """
    tiny = config is not None and os.path.basename(os.path.dirname(os.path.abspath(config))) \
        == 'tiny'
    defaults = {task: os.path.join(root, spec.tiny_config if tiny else spec.config)
                for task, spec in TASKS.items()}
    if config is not None:
        defaults[task_of_config(config)] = os.path.abspath(config)
    return defaults


def task_of_config(config: str) -> str:
    """The app task a config's model performs (its natural ``tools/annotate.py`` task).

    Raises:
        FileNotFoundError: no such config file.
    """
    from mmengine.config import Config

    from ovperception.annotation.model import config_tasks
    if not os.path.isfile(config):
        raise FileNotFoundError(f'config {config!r} does not exist')
    natural = config_tasks(Config.fromfile(config))[0]
    return next(task for task, name in ANNOTATION_TASKS.items() if name == natural)
