"""The web app's work, without the web: build models, run a task, inspect, refine with SAM.

:class:`AnnotationService` is shared by every session; models are built once per config and
kept (at most ``max_models`` at a time), each session keeps its own predictors and image
encodings in its :class:`~ovperception.webapp.session.AppSession`. User mistakes raise
:class:`UserError` with a one-line message the page shows; the server keeps serving.
"""
from __future__ import annotations

import math
import os
import shutil
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from mmengine.structures import PixelData

from ovperception.annotation import (DATASET_FORMATS, ImageRecord, sample_to_objects,
                                     write_dataset)
from ovperception.apis.anomaly import (build_anomaly_predictor, calibrate_threshold,
                                       is_anomaly_config, needs_reference_images,
                                       pack_images, set_reference_images)
from ovperception.apis.model import init_model
from ovperception.apis.options import (applicable_options, detection_options,
                                       is_detection_config, segmentation_options)
from ovperception.apis.predictor import OVPredictor
from ovperception.models.clip.vocabulary import (Vocabulary, VocabularyError,
                                                 parse_vocabulary_string)
from ovperception.models.clip.weights import CheckpointMismatchError, WeightsNotFoundError
from ovperception.utils.closed_vocabulary import configured_head_classes, vocabulary_in_head
from ovperception.utils.image_io import ImageReadError, check_image, load_image
from ovperception.webapp.annotated import (VIEW_MAX_SIDE, ResultView, draw_prompts,
                                          result_view)
from ovperception.webapp.detection_filter import check_detection_filter, filter_detections
from ovperception.webapp.config_cache import ConfigCache
from ovperception.webapp.session import AppSession, LastResult, image_key
from ovperception.webapp.summaries import describe_point, label_names, summary_rows
from ovperception.webapp.tasks import (ANNOTATION_TASKS, CONFIG_ROOT, TASKS, config_choices,
                                       configs_for_task)
from ovperception.webapp.weights_here import config_weights_here
from ovperception.writers import write_predictions

#: The overlay shown for each task, by the suffix of the file its writer produces.
OVERLAY_SUFFIXES = {'semantic': ('_overlay.png',),
                    'panoptic': ('_panoptic_overlay.png', '_overlay.png'),
                    'detection': ('_det_overlay.png',), 'counting': ('_count.png',),
                    'anomaly': ('_anomaly.png',)}

#: Largest image the app accepts, in pixels (larger uploads are refused with a message).
DEFAULT_MAX_PIXELS = 40_000_000
#: With "downscale large images", images up to this many times ``max_pixels`` are shrunk.
DOWNSCALE_FACTOR = 10


#: Prediction fields a panoptic model gives besides its panoptic map (FC-CLIP: the semantic
#: map and the query detections); the panoptic task shows and exports only the panoptic map.
NON_PANOPTIC_FIELDS = ('pred_sem_seg', 'seg_logits', 'pred_instances')


def panoptic_only(sample):
    """``sample`` without :data:`NON_PANOPTIC_FIELDS`: the page's table and "nothing
    found", the overlay and every download (writers, COCO and other datasets) then describe
    the same segments, those of ``pred_panoptic_seg``."""
    for name in NON_PANOPTIC_FIELDS:
        if name in sample:
            delattr(sample, name)
    return sample


def chooses_vocabulary(cfg: Any) -> bool:
    """Whether the model of the parsed config ``cfg`` chooses an image's names itself
    (vocabulary-free)."""
    return bool(cfg.model.get('vocabulary_selector'))


def chosen_names_note(chosen: list[dict]) -> str:
    """``"cat 0.81, grass 0.40"``: the names a vocabulary-free model chose, with scores."""
    return ', '.join(f'{c["name"]} {c["score"]:.2f}' for c in chosen) or 'none'


class UserError(ValueError):
    """A problem with what the user asked for; its message is shown in the page."""


def parse_threshold(value: float | str | None) -> float | None:
    """The anomaly threshold typed in the page: None when empty; UserError if not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise UserError(f'the anomaly threshold must be a number, got {value!r}') from None
    if not math.isfinite(threshold):
        raise UserError(f'the anomaly threshold must be finite, got {value!r}')
    return threshold


@dataclass
class AppResult:
    """What one run shows.

    Attributes:
        overlay: path of the overlay PNG.
        rows: table rows ``[class, value, detail]``.
        message: one status line (what ran, whether the image was re-encoded).
        files: downloadable files (annotations, label PNG, overlay, a zip of all).
        view: the interactive view (input at a bounded size, regions, class colours).
    """

    overlay: str
    rows: list[list[str]]
    message: str
    files: list[str]
    view: ResultView | None = None


def _relative_paths(paths: Sequence[str], root: str) -> None:
    """Rewrite absolute paths under ``root`` in the text files among ``paths`` (COCO
    ``images[].path``, VOC ``<path>``, YOLO ``data.yaml``, Label Studio tasks) as paths
    relative to ``root``: a download never shows the server's folders."""
    prefix = os.path.join(os.path.abspath(root), '')
    for path in paths:
        if os.path.splitext(path)[1] not in ('.json', '.xml', '.yaml', '.txt'):
            continue
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        if prefix in text or prefix.rstrip(os.sep) in text:
            text = text.replace(prefix, '').replace(prefix.rstrip(os.sep), '.')
            with open(path + '.part', 'w', encoding='utf-8') as handle:
                handle.write(text)
            os.replace(path + '.part', path)


class AnnotationService:
    """Runs the app's tasks for any number of sessions.

    Args:
        defaults: task -> config path the task starts with.
        weights: ``--weights`` for every config (None: each config's own ``pretrained``).
        device: torch device string.
        sam_checkpoint: SAM weights enabling click refinement (None with ``sam_model='tiny'``
            gives a random tiny SAM, for tests; None otherwise disables refinement).
        sam_model: SAM size (``vit_b`` / ``vit_l`` / ``vit_h`` / ``tiny``).
        max_models: models kept built at once (least recently used ones are dropped).
        max_pixels: largest accepted image.
    """

    def __init__(self, defaults: dict[str, str], weights: str | None = None,
                 device: str = 'cpu', sam_checkpoint: str | None = None,
                 sam_model: str = 'vit_b', max_models: int = 5,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.defaults = dict(defaults)
        self.weights, self.device = weights, device
        self.sam_checkpoint, self.sam_model = sam_checkpoint, sam_model
        self.max_models, self.max_pixels = int(max_models), int(max_pixels)
        self._models: OrderedDict[str, torch.nn.Module] = OrderedDict()
        self._lock = threading.RLock()
        self._sam = None
        self._configs = ConfigCache()

    # ----------------------------------------------------------------- configs
    @property
    def sam_enabled(self) -> bool:
        return self.sam_checkpoint is not None or self.sam_model == 'tiny'

    def configs(self, task: str) -> list[str]:
        """Config choices of ``task``: its default first, then the repository's configs."""
        listed = [os.path.join(CONFIG_ROOT, path) for path in configs_for_task(task)]
        default = self.defaults[task]
        return [default] + [path for path in listed
                            if os.path.abspath(path) != os.path.abspath(default)]

    def weights_here(self, config: str) -> bool | None:
        """Whether the weights of ``config`` are on this machine (a cheap cache look, see
        :func:`~ovperception.webapp.weights_here.config_weights_here`); None with ``--weights``
        (that file is used) or where nothing can be checked."""
        if self.weights is not None:
            return None
        try:
            cfg = self._configs.get(config)
        except Exception:  # noqa: BLE001 - an unreadable config is reported when it is run
            return None
        return config_weights_here(cfg)

    def config_choices(self, task: str) -> list[tuple[str, str]]:
        """The model list of ``task``: readable labels saying whose weights are here."""
        return config_choices(self.configs(task), self.weights_here)

    def background_words(self, config: str | None) -> tuple[str, ...]:
        """Words the model of ``config`` scores as background besides the vocabulary
        (detection configs' scene words; the app runs segmentation without any)."""
        if not config or not os.path.isfile(config):
            return ()
        if config in self._models:
            return tuple(getattr(self._models[config], 'background_words', ()) or ())
        try:
            cfg = self._configs.get(config)
        except Exception:  # noqa: BLE001 - an unreadable config is reported when it is run
            return ()
        if not is_detection_config(cfg):
            return ()
        return tuple(cfg.model.get('background_words') or ())

    def _check_config(self, task: str, config: str | None) -> str:
        if task not in TASKS:
            raise UserError(f'unknown task {task!r}; choose one of {", ".join(TASKS)}')
        config = config or self.defaults[task]
        if config not in self.configs(task) and os.path.abspath(config) not in {
                os.path.abspath(c) for c in self.configs(task)}:
            raise UserError(f'config {config!r} is not offered for {TASKS[task].label}')
        return config

    # ------------------------------------------------------------------ models
    def model(self, config: str) -> torch.nn.Module:
        """The model of ``config``, built on first use (one-line error if weights are missing)."""
        with self._lock:
            if config in self._models:
                self._models.move_to_end(config)
                return self._models[config]
            try:
                model = self._build(config)
            except (WeightsNotFoundError, CheckpointMismatchError, FileNotFoundError) as error:
                raise UserError(f'cannot build {os.path.basename(config)}: {error}') from None
            self._models[config] = model
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
            return model

    def _build(self, config: str) -> torch.nn.Module:
        if is_anomaly_config(config):
            return build_anomaly_predictor(config, self.weights, self.device, ['object'],
                                           images_given_later=True).model
        if is_detection_config(config):
            options = detection_options((), None)
        else:
            # class scores for hovering and the view, kept at the view's size: a 24-MP
            # image's full-size scores would be 0.7 GB per 7 classes
            options = dict(segmentation_options(()), **{'model.head.return_logits': True,
                                                        'model.head.logits_max_side':
                                                            VIEW_MAX_SIDE})
        options = applicable_options(config, options, explicit={})
        return init_model(config, self.weights, self.device, cfg_options=options)

    # -------------------------------------------------------------------- runs
    def run(self, session: AppSession, image_path: str | None, vocabulary: str, task: str,
            config: str | None = None, anomaly_threshold: float | str | None = None,
            formats: Sequence[str] | None = None, downscale: bool = False,
            score_threshold: float | str | None = None,
            top_k: float | str | None = None) -> AppResult:
        """Predict ``task`` for the image with ``vocabulary`` and write the downloads
        (the demo's files and the dataset ``formats`` of ``tools/annotate.py``).

        The image is encoded once per (session, config, pixels): a new vocabulary on the same
        image reuses the encoding.

        ``downscale``: shrink an image over ``max_pixels`` to fit instead of refusing it.
        ``score_threshold`` / ``top_k`` (detection): show and export only the (at most
        ``top_k``, 0 or empty: all) detections scoring at least ``score_threshold``;
        :meth:`filter_detections` changes them later without running the model again.
        ``anomaly_threshold`` empty or None: the model's own (calibrated) threshold, if its
        config sets one; else no verdict.

        Raises:
            UserError: no image, unreadable or too large image, empty or invalid vocabulary,
                unknown task/config, missing weights, a threshold that is not a number.
        """
        config = self._check_config(task, config)
        choose_names = not (vocabulary or '').strip(' ,;') and chooses_vocabulary(
            self._configs.get(config))
        classnames = None if choose_names else self._check_vocabulary(
            vocabulary, self.fixed_vocabulary(config))
        anomaly_threshold = parse_threshold(anomaly_threshold)
        detection_filter = self._check_detection_filter(score_threshold, top_k)
        if formats is not None:
            session.formats = self._check_formats(formats)
        image, name, original = self.read_image(image_path, downscale)
        downscaled = original != (image.shape[1], image.shape[0])
        predictor = self._predictor(session, config)
        key = image_key(image)
        with self._lock, torch.no_grad():
            self._give_reference_images(session, predictor, config)
            reused = session.encoded.get(config) == key
            if not reused:
                predictor.set_image(image)
                session.encoded[config] = key
                session.encode_count += 1
            try:
                if classnames is not None:
                    Vocabulary.parse(classnames, predictor.model.background_words)
                sample = predictor.predict(classnames)  # None: the model chooses the names
            except VocabularyError as error:
                raise UserError(str(error)) from None
            chosen = sample.metainfo.get('chosen_names')
            if chosen is not None:
                classnames = [c['name'] for c in chosen]
        if task == 'anomaly' and anomaly_threshold is not None:
            sample.set_metainfo(dict(anomaly_threshold=anomaly_threshold,
                                     is_anomalous=bool(float(sample.pred_score)
                                                       >= anomaly_threshold)))
        unfiltered = None
        if task == 'panoptic':
            sample = panoptic_only(sample)
        elif task == 'detection':
            unfiltered = sample
            sample, shown, total = filter_detections(unfiltered, *detection_filter)
        session.last = LastResult(task=task, sample=sample, image=image, name=name,
                                  source='' if downscaled else image_path,
                                  unfiltered=unfiltered)
        session.prompts.clear()
        session.box_corner = None
        result = self._publish(session)
        result.message = (f'{TASKS[task].label} with {os.path.basename(config)}: '
                          f'{len(classnames)} class(es)'
                          + (f' chosen by the model ({chosen_names_note(chosen)})'
                             if chosen is not None else '') + '; image '
                          f'{"features reused" if reused else "encoded"}'
                          + ('' if result.rows else '; nothing found')
                          + (f'; downscaled from {original[0]}x{original[1]} to '
                             f'{image.shape[1]}x{image.shape[0]}' if downscaled else '')
                          + self._verdict_note(task, sample)
                          + (self._filter_note(shown, total, *detection_filter)
                             if task == 'detection' else ''))
        return result

    def filter_detections(self, session: AppSession, score_threshold: float | str | None,
                          top_k: float | str | None) -> AppResult:
        """Show and export the last detection result with another score threshold and
        top-k, without running the model (the model's full prediction is kept).

        Raises:
            UserError: no detection result yet, or values out of range.
        """
        detection_filter = self._check_detection_filter(score_threshold, top_k)
        last = self._require_result(session)
        if last.unfiltered is None:
            raise UserError('the score threshold and top-k apply to detection results: run '
                            'the detection task first')
        last.sample, shown, total = filter_detections(last.unfiltered, *detection_filter)
        result = self._publish(session)
        result.message = 'detection (model not run again)' + self._filter_note(
            shown, total, *detection_filter)
        return result

    @staticmethod
    def _check_detection_filter(score_threshold: float | str | None,
                                top_k: float | str | None) -> tuple[float, int]:
        try:
            return check_detection_filter(score_threshold, top_k)
        except ValueError as error:
            raise UserError(str(error)) from None

    @staticmethod
    def _filter_note(shown: int, total: int, score_threshold: float, top_k: int) -> str:
        return (f'; {shown} of {total} detection(s) shown (score >= {score_threshold:.2f}'
                + (f', top {top_k}' if top_k else '') + ')')

    @staticmethod
    def _verdict_note(task: str, sample) -> str:
        if task != 'anomaly' or sample.metainfo.get('anomaly_threshold') is not None:
            return ''
        return ('; no verdict: this model has no calibrated threshold (type one, or '
                'calibrate on a few normal images)')

    def calibrate(self, session: AppSession, normal_paths: Sequence[str] | None,
                  vocabulary: str, config: str | None = None) -> tuple[float | None, str]:
        """Anomaly threshold from a few normal images (the CLI's ``--calibrate-normal``):
        the highest of their image scores, rounded up at the 6th decimal so that none of
        them is judged anomalous.

        Models that compare each image against normal images (AnomalyDINO's few-shot
        references, MuSc's unlabeled set) keep these images as theirs for the session's later
        runs; each image is then scored against the others (leave one out), since an image
        scored against itself scores 0. With too few images for that the threshold is None.

        Returns:
            (threshold or None, one-line message with the scores).

        Raises:
            UserError: no or unreadable images, empty vocabulary, not an anomaly config.
        """
        classnames = self._check_vocabulary(vocabulary)
        config = self._check_config('anomaly', config)
        if not normal_paths:
            raise UserError('upload a few normal (defect-free) images to calibrate on')
        images = [self.read_image(path) for path in normal_paths]
        predictor = self._predictor(session, config)
        kind = needs_reference_images(predictor.model)
        scores = []
        with self._lock, torch.no_grad():
            session.encoded.pop(config, None)  # the predictor's image changes below
            if kind is None:
                for image, _, _ in images:
                    predictor.set_image(image)
                    scores.append(float(predictor.predict(classnames).pred_score))
            else:
                scores = self._leave_one_out_scores(predictor, list(normal_paths), images,
                                                    classnames, kind)
                previous, session.reference_paths = session.reference_paths, tuple(normal_paths)
                try:
                    self._give_reference_images(session, predictor, config)
                except UserError:
                    session.reference_paths = previous
                    raise
        used = (f'; the {len(images)} images are this model\'s {kind} from now on'
                if kind else '')
        if not scores:
            return None, (f'no threshold: {len(images)} image(s) are too few to score each '
                          f'against the others{used}')
        threshold = math.ceil(calibrate_threshold(np.asarray(scores)) * 1e6) / 1e6
        return threshold, (f'anomaly threshold {threshold:.6f}: the highest score of '
                           f'{len(scores)} normal image(s) (scores '
                           + ', '.join(f'{v:.4f}' for v in scores) + ')' + used)

    @staticmethod
    def _leave_one_out_scores(predictor: OVPredictor, paths: list[str], images: list,
                              classnames: list[str], kind: str) -> list[float]:
        """Each image's score against the other images as the model's references / set;
        empty when the others would be too few (MuSc needs 2)."""
        if len(paths) - 1 < (2 if kind == 'unlabeled set' else 1):
            return []
        scores = []
        packed = pack_images(predictor, paths)  # each file read and resized once
        for index, (image, _, _) in enumerate(images):
            set_reference_images(predictor, paths[:index] + paths[index + 1:],
                                 packed[:index] + packed[index + 1:])
            predictor.set_image(image)
            scores.append(float(predictor.predict(classnames).pred_score))
        predictor.model.app_reference_paths = None  # the references changed under it
        return scores

    def _give_reference_images(self, session: AppSession, predictor: OVPredictor,
                               config: str) -> None:
        """Make the session's normal images the model's references (AnomalyDINO) or
        unlabeled set (MuSc) if it needs them; call with the lock held."""
        kind = needs_reference_images(predictor.model)
        if kind is None:
            return
        if not session.reference_paths:
            raise UserError(f'{os.path.basename(config)} compares each image against normal '
                            f'images of the object ({kind}): upload a few under "normal '
                            'images" and press "calibrate" first')
        if getattr(predictor.model, 'app_reference_paths', None) != session.reference_paths:
            try:
                set_reference_images(predictor, list(session.reference_paths))
            except ValueError as error:
                raise UserError(str(error)) from None
            predictor.model.app_reference_paths = session.reference_paths
            session.encoded.pop(config, None)

    @staticmethod
    def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
        unknown = [name for name in formats if name not in DATASET_FORMATS]
        if unknown:
            raise UserError(f'unknown dataset format(s) {unknown}; choose from '
                            f'{", ".join(DATASET_FORMATS)}')
        return tuple(dict.fromkeys(formats))

    def _check_vocabulary(self, vocabulary: str,
                          fixed: list[str] | None = None) -> list[str]:
        """The class entries typed in the page; with a closed-vocabulary model (``fixed``:
        its trained classes) an empty box means all of them and a class outside them is a
        UserError naming them."""
        if not (vocabulary or '').strip(' ,;'):
            if fixed is not None:
                return list(fixed)
            raise UserError('type at least one class name (comma separated, synonyms with ";"),'
                            ' or pick a vocabulary-free config (dense_cased_*, seg_tiny_cased) '
                            'to let the model choose them')
        try:
            classnames = list(Vocabulary.parse(parse_vocabulary_string(vocabulary)).entries)
            if fixed is not None:
                vocabulary_in_head(classnames, fixed)
        except ValueError as error:  # VocabularyError, or a class the model was not trained on
            raise UserError(str(error)) from None
        return classnames

    def fixed_vocabulary(self, config: str) -> list[str] | None:
        """The only classes the model of ``config`` predicts (a trained ExCEL's
        ``head_classes``), else None; read from the config without building the model."""
        if config in self._models:
            return getattr(self._models[config], 'fixed_vocabulary', None)
        return configured_head_classes(self._configs.get(config))

    def vocabulary_hint(self, task: str, config: str | None = None) -> str:
        """Placeholder of the vocabulary box: the task's hint, or the trained classes of a
        closed-vocabulary ``config`` (an empty box then means all of them)."""
        try:
            fixed = self.fixed_vocabulary(config) if config and os.path.isfile(config) else None
        except Exception:  # noqa: BLE001 - an unreadable config is reported when it is run
            fixed = None
        if fixed is None:
            return TASKS[task].vocabulary_hint
        return 'empty: all the trained classes (' + ', '.join(fixed) + '), or some of them'

    def read_image(self, image_path: str | None, downscale: bool = False
                   ) -> tuple[np.ndarray, str, tuple[int, int]]:
        """(H, W, 3) uint8 RGB pixels, file name and (width, height) as read (EXIF
        orientation applied, before any downscale) of an upload; UserError if unreadable.

        An image over ``max_pixels`` is refused with an offer to downscale it, or, with
        ``downscale``, shrunk (area interpolation) to fit (up to :data:`DOWNSCALE_FACTOR` times
        the limit). Messages name the uploaded file, never a server path.
        """
        if not image_path:
            raise UserError('upload or drop an image first (or pick an example)')
        name = os.path.basename(image_path)
        try:
            width, height = check_image(image_path, max_pixels=None)
            pixels = width * height
            if pixels > self.max_pixels and not downscale:
                raise UserError(
                    f'{name} is {width}x{height} = {pixels:,} pixels, over this server\'s '
                    f'limit of {self.max_pixels:,}: tick "downscale large images" to annotate '
                    'it at a smaller size')
            if pixels > self.max_pixels * DOWNSCALE_FACTOR:
                raise UserError(f'{name} is {width}x{height} = {pixels:,} pixels, too large '
                                f'even to downscale (at most {DOWNSCALE_FACTOR} x '
                                f'{self.max_pixels:,})')
            image = load_image(image_path, max_pixels=None)
        except (ImageReadError, OSError) as error:
            message = str(error).replace(image_path, name)
            raise UserError(f'cannot read the image {name}: {message}') from None
        height, width = image.shape[:2]  # the header's size is before EXIF rotation
        if pixels > self.max_pixels:
            scale = math.sqrt(self.max_pixels / pixels)
            size = (max(1, int(width * scale)), max(1, int(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image, name, (width, height)

    def _predictor(self, session: AppSession, config: str) -> OVPredictor:
        model = self.model(config)
        predictor = session.predictors.get(config)
        if predictor is None or predictor.model is not model:
            predictor = OVPredictor(model)
            session.predictors[config] = predictor
            session.encoded.pop(config, None)
        return predictor

    def _publish(self, session: AppSession) -> AppResult:
        """Write the last result's files into a new run folder; the overlay and table."""
        last = session.last
        session.runs += 1
        folder = os.path.join(session.folder, f'run-{session.runs:04d}')
        os.makedirs(folder)
        written = write_predictions(os.path.join(folder, last.name), last.image, last.sample,
                                    folder, input_paths=[])
        _relative_paths(written, folder)
        overlay = next((path for suffix in OVERLAY_SUFFIXES[last.task] for path in written
                        if path.endswith(suffix)), written[0])
        datasets = self._write_datasets(last, session.formats, os.path.join(folder, 'datasets'))
        bundle = os.path.join(folder, os.path.splitext(last.name)[0] + '_annotations.zip')
        with zipfile.ZipFile(bundle + '.part', 'w', zipfile.ZIP_DEFLATED) as archive:
            for path in written + datasets:
                archive.write(path, os.path.relpath(path, folder))
        os.replace(bundle + '.part', bundle)
        self._forget_old_runs(session, keep=folder)
        return AppResult(overlay=overlay, rows=summary_rows(last.task, last.sample),
                         message='', files=written + [bundle],
                         view=result_view(last.task, last.sample, last.image))

    @staticmethod
    def _write_datasets(last: LastResult, formats: Sequence[str], out_dir: str) -> list[str]:
        """The result as one-image datasets in ``formats`` (COCO, YOLO, VOC, Label Studio,
        CVAT: ``tools/annotate.py``'s writers), with a copy of the image beside them."""
        if not formats:
            return []
        images = os.path.join(out_dir, 'images')
        os.makedirs(images, exist_ok=True)
        image_path = os.path.join(images, last.name)
        if last.source:
            shutil.copyfile(last.source, image_path)
        else:  # downscaled: the annotated pixels
            cv2.imwrite(image_path, cv2.cvtColor(last.image, cv2.COLOR_RGB2BGR))
        height, width = last.image.shape[:2]
        objects, extra = sample_to_objects(last.sample, ANNOTATION_TASKS[last.task],
                                           (height, width))
        record = ImageRecord(name=last.name, flat_stem=os.path.splitext(last.name)[0],
                             image_path=image_path, height=height, width=width,
                             source=last.name, extra=extra)
        written = [image_path]
        for name in formats:
            written += write_dataset(name, [record], [objects], label_names(last.sample),
                                     os.path.join(out_dir, name))
        _relative_paths(written, out_dir)
        return written

    @staticmethod
    def _forget_old_runs(session: AppSession, keep: str) -> None:
        """Keep only the newest two run folders (the page may still show the previous one)."""
        runs = sorted(entry for entry in os.listdir(session.folder) if entry.startswith('run-'))
        for entry in runs[:-2]:
            if os.path.join(session.folder, entry) != keep:
                shutil.rmtree(os.path.join(session.folder, entry), ignore_errors=True)

    # ---------------------------------------------------------------- clicks
    def inspect(self, session: AppSession, x: float, y: float) -> str:
        """The label (and score) at pixel (x, y) of the current result."""
        last = self._require_result(session)
        height, width = last.image.shape[:2]
        col, row = int(x), int(y)
        if not (0 <= col < width and 0 <= row < height):
            raise UserError(f'({col}, {row}) lies outside the {width}x{height} image')
        return describe_point(last.task, last.sample, col, row)

    def add_prompt(self, session: AppSession, x: float, y: float, mode: str) -> str:
        """Record a SAM prompt: a foreground/background point, or one corner of a box."""
        self._require_sam(session)
        if mode == 'box corner':
            if session.box_corner is None:
                session.box_corner = (float(x), float(y))
                return f'box: first corner ({x:.0f}, {y:.0f}); click the opposite corner'
            return self.set_box(session, *session.box_corner, x, y)
        label = 0 if mode == 'background point' else 1
        session.prompts.append((float(x), float(y), label))
        points = sum(1 for p in session.prompts if p[2] != 2)
        return f'{points} point(s) clicked; press "refine with SAM"'

    def set_box(self, session: AppSession, x0: float, y0: float, x1: float,
                y1: float) -> str:
        """Make the box with corners (x0, y0) and (x1, y1) (input pixels, any two opposite
        corners: a drag on the page, or two clicks) the SAM box prompt, replacing any
        earlier box; the clicked points stay."""
        self._require_sam(session)
        left, right = sorted((float(x0), float(x1)))
        top, bottom = sorted((float(y0), float(y1)))
        session.box_corner = None
        session.prompts = [p for p in session.prompts if p[2] != 2]
        session.prompts += [(left, top, 2), (right, bottom, 2)]
        return f'box ({left:.0f}, {top:.0f}) - ({right:.0f}, {bottom:.0f}); press "refine ' \
               'with SAM"'

    def refine(self, session: AppSession, class_name: str) -> AppResult:
        """Segment the clicked object with SAM and give its mask the class ``class_name``."""
        last = self._require_sam(session)
        names = label_names(last.sample)
        if class_name not in names:
            raise UserError(f'choose the class of the object ({", ".join(names)})')
        masks = self._sam_mask(session)
        labels = last.sample.pred_sem_seg.data.clone()
        labels[0][masks] = names.index(class_name)
        last.sample.pred_sem_seg = PixelData(data=labels)
        session.prompts.clear()
        result = self._publish(session)
        result.message = f'SAM mask of {int(masks.sum())} pixels labelled {class_name!r}'
        return result

    def _sam_mask(self, session: AppSession) -> torch.Tensor:
        """(H, W) bool SAM mask of the session's clicked points and box."""
        last = session.last
        points = [(x, y, label) for x, y, label in session.prompts if label != 2]
        corners = [(x, y) for x, y, label in session.prompts if label == 2]
        if not points and not corners:
            raise UserError('click points on the object (or two box corners) first')
        sam = self._sam_model()
        with self._lock, torch.no_grad():
            key = image_key(last.image)
            if session.sam_image is None or session.sam_image[0] != key:
                session.sam_image = (key, sam.set_image(np.array(last.image)))
            return sam.predict(
                session.sam_image[1],
                points=torch.tensor([[p[:2] for p in points]], dtype=torch.float32)
                if points else None,
                point_labels=torch.tensor([[p[2] for p in points]]) if points else None,
                boxes=torch.tensor([[*corners[0], *corners[1]]], dtype=torch.float32)
                if corners else None).masks[0, 0].cpu()

    def prompt_view(self, session: AppSession) -> np.ndarray | None:
        """The input at the view's size with the clicked SAM prompts drawn (foreground
        points green, background points red, the box and a pending first corner yellow) and
        SAM's mask for them as a blue tint; None before any result."""
        if session.last is None:
            return None
        view = draw_prompts(session.last.image, session.prompts, session.box_corner,
                            self._sam_mask(session) if session.prompts and self.sam_enabled
                            and session.last.task == 'semantic' else None)
        return view

    def undo_prompt(self, session: AppSession) -> str:
        """Forget the last clicked prompt (a box counts as one)."""
        self._require_sam(session)
        if session.box_corner is not None:
            session.box_corner = None
        elif session.prompts:
            removed = session.prompts.pop()
            if removed[2] == 2:  # both corners of the box
                session.prompts = [p for p in session.prompts if p[2] != 2]
        else:
            return 'nothing to undo'
        return self._prompt_summary(session)

    def clear_prompts(self, session: AppSession) -> str:
        """Forget every clicked prompt."""
        session.prompts.clear()
        session.box_corner = None
        return 'prompts cleared'

    @staticmethod
    def _prompt_summary(session: AppSession) -> str:
        points = sum(1 for p in session.prompts if p[2] != 2)
        box = any(p[2] == 2 for p in session.prompts)
        return f'{points} point(s){" and a box" if box else ""} clicked'

    def _require_result(self, session: AppSession) -> LastResult:
        if session.last is None:
            raise UserError('run a task on an image first')
        return session.last

    def _require_sam(self, session: AppSession) -> LastResult:
        last = self._require_result(session)
        if not self.sam_enabled:
            raise UserError('SAM refinement needs a SAM checkpoint: restart the app with '
                            '--sam-checkpoint sam_vit_b_01ec64.pth (see docs/weights.md)')
        if last.task != 'semantic':
            raise UserError('SAM refinement applies to semantic segmentation results')
        return last

    def _sam_model(self):
        with self._lock:
            if self._sam is None:
                from ovperception.models.refiners.sam import SAMWrapper
                try:
                    self._sam = SAMWrapper(self.sam_model, self.sam_checkpoint).to(self.device)
                except WeightsNotFoundError as error:
                    raise UserError(str(error)) from None
            return self._sam

    def class_names(self, session: AppSession | None) -> list[str]:
        """Class names of the session's current result (choices of the SAM class box)."""
        return [] if session is None or session.last is None else label_names(session.last.sample)
