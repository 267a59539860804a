"""The tasks the app offers and the model configs that serve each of them."""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Callable

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
                         ('segmentation/[!f]*_vitb16_*.py', 'segmentation/declip_*.py',
                          'segmentation/talk2dino_*.py', 'segmentation/catseg_*.py',
                          'tiny/seg_tiny*.py'),
                         'cat, sofa; couch, floor'),
    'panoptic': TaskSpec('panoptic segmentation', 'segmentation/fcclip_convnext_large_ade20k_panoptic_800.py',
                         'tiny/fcclip_tiny.py',
                         ('segmentation/fcclip_*.py', 'tiny/fcclip_tiny*.py'), 'person, car, road'),
    'detection': TaskSpec('detection', 'detection/ovdet_cc_vitb16_ov_coco.py', 'tiny/det_tiny.py',
                          ('detection/*.py', 'tiny/det_tiny*.py'), 'cat, dog'),
    'counting': TaskSpec('counting', 'counting/pseco_zeroshot_vitb16_fsc147.py',
                         'tiny/count_tiny_zeroshot.py',
                         ('counting/*.py', 'tiny/count_tiny*.py'), 'apple'),
    'anomaly': TaskSpec('anomaly detection', 'anomaly/winclip_vitb16plus_mvtec.py',
                        'tiny/anomaly_tiny_winclip.py',
                        ('anomaly/winclip_vitb16plus_*.py', 'anomaly/anovl_*.py',
                         'anomaly/anomalydino_*.py', 'anomaly/musc_*.py',
                         'tiny/anomaly_tiny_winclip.py', 'tiny/anomaly_tiny_anomalydino.py',
                         'tiny/anomaly_tiny_musc.py', 'tiny/anomaly_tiny_adaclip.py'),
                        'screw (the object inspected)'),
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


#: Readable spellings of file-name words (methods, backbones, datasets); others are upper-cased
#: (methods) or kept (the rest), so new configs get readable names without an entry here.
READABLE_WORDS = {
    'sclip': 'SCLIP', 'naclip': 'NACLIP', 'clearclip': 'ClearCLIP', 'maskclip': 'MaskCLIP',
    'proxyclip': 'ProxyCLIP', 'corrclip': 'CorrCLIP', 'sam2': '(online SAM 2 masks)',
    'trident': 'Trident', 'clip': 'CLIP', 'dinoiser': 'DINOiser',
    'fcclip': 'FC-CLIP', 'fvit': 'F-ViT', 'catseg': 'CAT-Seg', 'pamr': '+ PAMR', 'ovdet': 'OV-DET',
    'cc': 'CLIP crops',
    'learned': 'learned head', 'sam': 'SAM', 'pseco': 'PseCo', 'zeroshot': 'zero-shot',
    'ebc': 'EBC', 'winclip': 'WinCLIP', 'plus': '+', 'anovl': 'AnoVL',
    'anomalyclip': 'AnomalyCLIP', 'adaclip': 'AdaCLIP', 'ade20k': 'ADE20K',
    'cityscapes': 'Cityscapes',
    'coco': 'COCO', 'object': 'Object', 'stuff164k': 'Stuff-164k', 'context59': 'Context-59',
    'context60': 'Context-60', 'context459': 'Context-459', 'voc20': 'VOC-20',
    'voc21': 'VOC-21', 'ov': 'open-vocabulary', 'lvis': 'LVIS', 'fsc147': 'FSC-147',
    'mvtec': 'MVTec AD', 'visa': 'VisA', 'nwpu': 'NWPU', 'qnrf': 'UCF-QNRF',
    'sha': 'ShanghaiTech A', 'shb': 'ShanghaiTech B', 'panoptic': 'panoptic', 'full': 'full',
    'folder': 'any folder'}
_BACKBONE = re.compile(r'_(vit([bhl])(\d+)(plus)?(?:_(\d{3}))?|resnet\d+|convnext_[a-z]+)(?=_|$)')


def _readable(words: str) -> str:
    return ' '.join(READABLE_WORDS.get(word, word) for word in words.split('_') if word)


def config_label(path: str) -> str:
    """A readable name of a config from its file name: ``method · dataset · backbone``
    (``sclip_vitb16_ade20k_336.py`` -> ``SCLIP · ADE20K 336 px · ViT-B/16``); tiny configs
    say that their weights are random."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if os.path.basename(os.path.dirname(os.path.abspath(path))) == 'tiny':
        return f'tiny random model ({stem}: untrained, for trying the app out)'
    match = _BACKBONE.search(stem)
    if match is None:
        return _readable(stem)
    method = ' '.join(READABLE_WORDS.get(w, w.upper()) for w in stem[:match.start()].split('_'))
    if match.group(2):
        backbone = f'ViT-{match.group(2).upper()}/{match.group(3)}' + (
            '+' if match.group(4) else '') + (f' {match.group(5)}' if match.group(5) else '')
    else:
        backbone = match.group(1).replace('_', ' ').replace('resnet', 'ResNet-').replace(
            'convnext', 'ConvNeXt')
    rest = stem[match.end():].strip('_')
    size = re.search(r'(?:^|_)(\d{3,4})$', rest)
    if size:
        rest = rest[:size.start()]
    shots = re.search(r'(?:^|_)(\d+)shot$', rest)
    if shots:
        rest = rest[:shots.start()]
    dataset = _readable(rest) + (f' {size.group(1)} px' if size else '') + (
        f' {shots.group(1)}-shot' if shots else '')
    return ' · '.join(part for part in (method, dataset.strip(), backbone) if part)


#: What the model list adds to a config's label when its weights are / are not on this machine.
WEIGHTS_MARKS = {True: ' · weights here', False: ' · weights not on this machine'}


def config_choices(paths: list[str],
                   weights_here: Callable[[str], bool | None] | None = None
                   ) -> list[tuple[str, str]]:
    """(readable label, path) dropdown choices; the first (the default) stays first, the rest
    are sorted by label, so configs of one method and dataset stand together.

    ``weights_here(path)``: True / False (the label says whether the weights are on this
    machine) or None (no mark: tiny random models, weights this check cannot see)."""
    if not paths:
        return []

    def label(path: str) -> str:
        here = weights_here(path) if weights_here is not None else None
        return config_label(path) + WEIGHTS_MARKS.get(here, '')

    first, rest = paths[0], paths[1:]
    return [(label(first), first)] + sorted(((label(p), p) for p in rest),
                                            key=lambda item: item[0].lower())
