"""Box / mask AP with pycocotools, keys and defaults of mmdet's ``CocoMetric``.

Definitions (``pycocotools.cocoeval.COCOeval``): for every category and IoU threshold
(0.50:0.05:0.95), detections of all images are sorted by score and matched greedily
to unmatched ground truth (crowd boxes may absorb several detections and are never
counted); precision is interpolated at 101 recall points. ``bbox_mAP`` averages over
thresholds, recall points and categories (those with ground truth), with area 'all'
and the *last* ``maxDets`` entry; ``_50`` / ``_75`` fix the threshold; ``_s/_m/_l``
restrict the area. As in mmdet, ``maxDets = proposal_nums`` = (100, 300, 1000) by
default, so the summary uses up to 1000 detections per image (COCO's own default
is 100; pass ``proposal_nums=(1, 10, 100)`` for it).

OV-COCO: with ``base_classes`` / ``novel_classes`` (arguments or dataset metainfo),
``{metric}_base_ap`` / ``_novel_ap`` / ``_base_ap50`` / ``_novel_ap50`` average the
per-category AP (all thresholds, or IoU 0.5) over the categories of each part,
from ``COCOeval.eval['precision']`` at area 'all' and the last ``maxDets``. Values
are fractions in [0, 1] rounded to 3 decimals (mmdet's convention); the headline
OV-COCO number is ``coco/bbox_novel_ap50``.

Ground truth comes from ``ann_file`` (a COCO instances JSON: predictions map label
-> ``dataset_meta['cat_ids']``) or, without it, from each sample's ``gt_instances``
(built into an in-memory COCO; category id = label + 1). Samples of a panoptic dataset
without ``gt_instances`` give their thing segments of ``gt_panoptic_seg`` as instances
(crowd regions, VOID there but a thing class in ``gt_sem_seg``, become ``iscrowd``;
see :func:`ovperception.utils.panoptic.panoptic_to_instances`), so a panoptic model's
``pred_instances`` get mask / box AP from the panoptic annotations.
"""
from __future__ import annotations

import contextlib
import io
import os
from collections import OrderedDict
from typing import Any, Iterator, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ovperception.registry import METRICS
from ovperception.structures import sample_field
from ovperception.utils.annotations import mask_to_rle, squeeze_2d, to_numpy
from ovperception.utils.atomic import atomic_write_json
from ovperception.utils.panoptic import panoptic_to_instances

SUMMARY_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
METRIC_TYPES = ('bbox', 'segm')




def _instances(sample: Any, key: str) -> dict[str, np.ndarray] | None:
    """``bboxes``, ``labels``, ``scores``, ``masks``, ``ignore_flags`` of an instance field."""
    field = sample_field(sample, key)
    if field is None:
        return None
    items = field.to_dict() if isinstance(field, BaseDataElement) else dict(field)
    return {name: to_numpy(value) for name, value in items.items()
            if name in ('bboxes', 'labels', 'scores', 'masks', 'ignore_flags')}


def _panoptic_instances(sample: Any, is_thing: Sequence[bool] | None
                        ) -> dict[str, np.ndarray] | None:
    """Thing instances (+ crowd) of a sample's ``gt_panoptic_seg``; None without one."""
    panoptic = sample_field(sample, 'gt_panoptic_seg')
    if panoptic is None:
        return None
    as_map = (lambda field: squeeze_2d(field.data if hasattr(field, 'data') else field['data']))
    semantic = sample_field(sample, 'gt_sem_seg')
    return panoptic_to_instances(as_map(panoptic),
                                 None if semantic is None else as_map(semantic),
                                 sample_field(sample, 'is_thing') or is_thing)


def xyxy_to_xywh(boxes: np.ndarray) -> list[list[float]]:
    """(N, 4) xyxy -> COCO ``[x, y, w, h]`` lists."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes.tolist()]


def per_category_ap(precision: np.ndarray, iou_index: int | None = None) -> np.ndarray:
    """Per-category AP from ``COCOeval.eval['precision']`` (T, R, K, A, M).

    Area 'all' (index 0), last ``maxDets``; ``iou_index`` None averages all thresholds.

    Returns:
        (K,) AP, NaN for categories without ground truth.
    """
    values = precision[:, :, :, 0, -1] if iou_index is None else \
        precision[iou_index:iou_index + 1, :, :, 0, -1]
    result = np.full(values.shape[2], np.nan)
    for k in range(values.shape[2]):
        valid = values[:, :, k][values[:, :, k] > -1]
        if valid.size:
            result[k] = float(valid.mean())
    return result


@METRICS.register_module()
class CocoMetric(BaseMetric):
    """COCO box / mask AP (+ OV-COCO base / novel AP) with pycocotools.

    Args:
        ann_file: COCO instances JSON of the ground truth (None: use ``gt_instances``).
        metric: ``'bbox'``, ``'segm'`` or both.
        classwise: also report per-category AP (``{metric}_{name}_precision``).
        proposal_nums: ``COCOeval.params.maxDets`` (mmdet default (100, 300, 1000)).
        iou_thrs: IoU thresholds (default COCO's 0.50:0.05:0.95).
        base_classes, novel_classes: category names of an OV split (default: the
            dataset metainfo's ``base_classes`` / ``novel_classes`` when present).
        outfile_prefix: also write ``{prefix}.{metric}.json`` results (COCO format).
        collect_device, prefix: mmengine ``BaseMetric`` options (prefix default 'coco').
    """

    default_prefix = 'coco'

    def __init__(self, ann_file: str | None = None, metric: str | Sequence[str] = 'bbox',
                 classwise: bool = False, proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thrs: Sequence[float] | None = None,
                 base_classes: Sequence[str] | None = None,
                 novel_classes: Sequence[str] | None = None,
                 outfile_prefix: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metrics = [metric] if isinstance(metric, str) else list(metric)
        unknown = [m for m in self.metrics if m not in METRIC_TYPES]
        if unknown or not self.metrics:
            raise ValueError(f'metric must be among {METRIC_TYPES}, got {metric!r}')
        if len(proposal_nums) != 3:
            raise ValueError('proposal_nums needs 3 entries (COCOeval maxDets)')
        self.ann_file = ann_file
        if ann_file is not None and not os.path.isfile(ann_file):
            raise FileNotFoundError(f'CocoMetric: annotation file not found: {ann_file!r}')
        self.classwise = classwise
        self.proposal_nums = [int(n) for n in proposal_nums]
        self.iou_thrs = None if iou_thrs is None else np.asarray(iou_thrs, dtype=np.float64)
        self.base_classes = None if base_classes is None else list(base_classes)
        self.novel_classes = None if novel_classes is None else list(novel_classes)
        self.outfile_prefix = outfile_prefix

    # ----------------------------------------------------------------- collect
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep each image's predictions (RLE masks) and, without ``ann_file``, its GT."""
        for sample in data_samples:
            pred = _instances(sample, 'pred_instances')
            if pred is None:
                raise KeyError('CocoMetric needs pred_instances in every predicted sample')
            ori_shape = tuple(int(v) for v in sample_field(sample, 'ori_shape', (0, 0))[:2])
            record: dict[str, Any] = dict(img_id=sample_field(sample, 'img_id'), ori_shape=ori_shape,
                                          pred=self._encode(pred, with_scores=True))
            if self.ann_file is None:
                gt = _instances(sample, 'gt_instances')
                if gt is None:
                    gt = _panoptic_instances(sample, (self.dataset_meta or {}).get('is_thing'))
                if gt is None:
                    raise KeyError('CocoMetric without ann_file needs gt_instances (pack them '
                                   'with PackOVDetInputs) or gt_panoptic_seg in every sample')
                record['gt'] = self._encode(gt, with_scores=False)
            self.results.append(record)

    def _encode(self, instances: dict[str, np.ndarray], with_scores: bool) -> dict[str, Any]:
        boxes = np.asarray(instances['bboxes'], dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all():
            raise FloatingPointError('non-finite box coordinates in the instances')
        encoded: dict[str, Any] = dict(bboxes=boxes,
                                       labels=np.asarray(instances['labels']).astype(np.int64))
        if with_scores:
            encoded['scores'] = np.asarray(instances['scores'], dtype=np.float64).reshape(-1)
        else:
            flags = instances.get('ignore_flags')
            encoded['ignore'] = (np.zeros(len(boxes), bool) if flags is None
                                 else np.asarray(flags).astype(bool))
        if 'segm' in self.metrics:
            if instances.get('masks') is None:
                raise KeyError("metric 'segm' needs instance masks (pred and ground truth)")
            encoded['masks'] = [mask_to_rle(m) for m in np.asarray(instances['masks'])]
        return encoded

    # ----------------------------------------------------------------- evaluate
    def _category_ids(self, num_labels: int, coco_gt: COCO | None) -> list[int]:
        meta = self.dataset_meta or {}
        if meta.get('cat_ids') is not None:
            return [int(c) for c in meta['cat_ids']]
        if coco_gt is not None and meta.get('classes'):
            by_name = {c['name'].lower(): c['id'] for c in coco_gt.loadCats(coco_gt.getCatIds())}
            missing = [n for n in meta['classes'] if n.lower() not in by_name]
            if missing:
                raise KeyError(f'classes {missing[:5]} are not categories of {self.ann_file}')
            return [int(by_name[n.lower()]) for n in meta['classes']]
        return list(range(1, num_labels + 1))

    def _class_names(self, cat_ids: list[int]) -> list[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is not None and len(classes) == len(cat_ids):
            return [str(c) for c in classes]
        return [str(c) for c in cat_ids]

    def _ground_truth(self, results: list[dict], cat_ids: list[int]) -> COCO:
        images, annotations = [], []
        for record in results:
            height, width = record['ori_shape']
            images.append(dict(id=record['img_id'], height=height, width=width))
            gt = record['gt']
            for i, box in enumerate(xyxy_to_xywh(gt['bboxes'])):
                ann = dict(id=len(annotations) + 1, image_id=record['img_id'],
                           category_id=cat_ids[int(gt['labels'][i])], bbox=box,
                           area=box[2] * box[3], iscrowd=int(gt['ignore'][i]))
                if 'masks' in gt:
                    ann['segmentation'] = gt['masks'][i]
                    ann['area'] = _rle_area(gt['masks'][i])
                annotations.append(ann)
        names = self._class_names(cat_ids)
        coco = COCO()
        coco.dataset = dict(images=images, annotations=annotations, categories=[
            dict(id=c, name=n) for c, n in zip(cat_ids, names)])
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        return coco

    def _detections(self, results: list[dict], cat_ids: list[int], metric: str) -> list[dict]:
        detections = []
        for record in results:
            pred = record['pred']
            boxes = xyxy_to_xywh(pred['bboxes'])
            for i, box in enumerate(boxes):
                label = int(pred['labels'][i])
                if not 0 <= label < len(cat_ids):
                    raise ValueError(f'predicted label {label} is outside the {len(cat_ids)} '
                                     'categories')
                det = dict(image_id=record['img_id'], category_id=cat_ids[label],
                           score=float(pred['scores'][i]), bbox=box)
                if metric == 'segm':
                    det['segmentation'] = pred['masks'][i]
                detections.append(det)
        return detections

    def compute_metrics(self, results: list) -> dict[str, float]:
        logger = MMLogger.get_current_instance()
        results = self._assign_image_ids(results)
        coco_gt = COCO(self.ann_file) if self.ann_file is not None else None
        num_labels = len((self.dataset_meta or {}).get('classes') or []) or 1 + max(
            [int(r['pred']['labels'].max(initial=-1)) for r in results] +
            [int(r['gt']['labels'].max(initial=-1)) for r in results if 'gt' in r])
        cat_ids = self._category_ids(num_labels, coco_gt)
        if coco_gt is None:
            coco_gt = self._ground_truth(results, cat_ids)
        names = self._class_names(cat_ids)
        img_ids = [r['img_id'] for r in results]
        eval_results: OrderedDict[str, float] = OrderedDict()
        for metric in self.metrics:
            detections = self._detections(results, cat_ids, metric)
            if self.outfile_prefix:
                atomic_write_json(f'{self.outfile_prefix}.{metric}.json', detections)
            if not detections:
                logger.warning(f'CocoMetric: no {metric} detections; every AP is 0')
                eval_results.update({f'{metric}_{k}': 0.0 for k in SUMMARY_KEYS})
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                coco_dt = coco_gt.loadRes(detections)
            evaluator = COCOeval(coco_gt, coco_dt, metric)
            evaluator.params.catIds = cat_ids
            evaluator.params.imgIds = img_ids
            evaluator.params.maxDets = list(self.proposal_nums)
            if self.iou_thrs is not None:
                evaluator.params.iouThrs = self.iou_thrs
            summary = io.StringIO()
            with contextlib.redirect_stdout(summary):
                evaluator.evaluate()
                evaluator.accumulate()
                evaluator.summarize()
            logger.info(f'{metric} evaluation\n{summary.getvalue()}')
            for index, key in enumerate(SUMMARY_KEYS):
                eval_results[f'{metric}_{key}'] = round(float(evaluator.stats[index]), 3)
            eval_results.update(self._split_metrics(metric, evaluator, names))
            if self.classwise:
                for name, ap in zip(names, per_category_ap(evaluator.eval['precision'])):
                    eval_results[f'{metric}_{name}_precision'] = round(float(ap), 3)
        return dict(eval_results)

    def _split_metrics(self, metric: str, evaluator: COCOeval, names: list[str]
                       ) -> dict[str, float]:
        """``{metric}_{base,novel}_ap[50]`` when an OV split is known."""
        meta = self.dataset_meta or {}
        splits = {'base': self.base_classes or meta.get('base_classes'),
                  'novel': self.novel_classes or meta.get('novel_classes')}
        out: dict[str, float] = {}
        if not any(splits.values()):
            return out
        ap_all = per_category_ap(evaluator.eval['precision'])
        ap_50 = per_category_ap(evaluator.eval['precision'], iou_index=0)
        lowered = [n.lower() for n in names]
        for part, members in splits.items():
            if not members:
                continue
            index = [lowered.index(m.lower()) for m in members if m.lower() in lowered]
            for suffix, values in (('ap', ap_all), ('ap50', ap_50)):
                chosen = values[index]
                chosen = chosen[~np.isnan(chosen)]
                out[f'{metric}_{part}_{suffix}'] = round(float(chosen.mean()), 3) \
                    if chosen.size else float('nan')
        return out

    @staticmethod
    def _assign_image_ids(results: list[dict]) -> list[dict]:
        """Give samples without an ``img_id`` unique ids (1, 2, ...)."""
        if all(r['img_id'] is not None for r in results):
            ids = [int(r['img_id']) for r in results]
            if len(set(ids)) != len(ids):
                raise ValueError('CocoMetric: two samples share an img_id')
            return [dict(r, img_id=int(r['img_id'])) for r in results]
        return [dict(r, img_id=i + 1) for i, r in enumerate(results)]


def _rle_area(rle: dict) -> float:
    """Pixel area of a compressed RLE with ASCII counts."""
    return float(mask_util.area(dict(size=rle['size'], counts=rle['counts'].encode('ascii'))))


@contextlib.contextmanager
def numpy_float_alias() -> Iterator[None]:
    """``np.float`` (= ``float``) only while the block runs, if NumPy lacks it.

    lvis 0.5.3 (the latest release) still uses the alias that NumPy 1.24 removed; the
    installed package is left untouched and NumPy is restored afterwards.
    """
    added = 'float' not in vars(np)
    if added:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if added:
            del np.float  # type: ignore[attr-defined]


@METRICS.register_module()
class LVISMetric(CocoMetric):
    """LVIS AP / APr / APc / APf with the official LVIS API (``pip install lvis``; the
    ``lvis`` extra).

    Federated evaluation (per-image ``neg_category_ids`` / ``not_exhaustive_category_ids``)
    as defined by the LVIS API, at ``max_dets`` (300) detections per image. Needs
    ``ann_file`` (the LVIS v1 JSON). Keys ``lvis/{metric}_AP``, ``_AP50``, ``_AP75``,
    ``_APs``, ``_APm``, ``_APl``, ``_APr``, ``_APc``, ``_APf``. The LVIS API runs under
    :func:`numpy_float_alias`, so it works with NumPy 2.
    """

    default_prefix = 'lvis'

    def __init__(self, ann_file: str, metric: str | Sequence[str] = 'bbox',
                 max_dets: int = 300, **kwargs: Any) -> None:
        try:
            import lvis  # noqa: F401
        except ImportError as error:
            raise ImportError('LVISMetric needs the LVIS API: pip install lvis (the metric '
                              'follows its federated protocol; pycocotools cannot replace it)'
                              ) from error
        super().__init__(ann_file=ann_file, metric=metric, **kwargs)
        self.max_dets = max_dets

    def compute_metrics(self, results: list) -> dict[str, float]:
        from lvis import LVIS, LVISEval, LVISResults
        results = self._assign_image_ids(results)
        lvis_gt = LVIS(self.ann_file)
        cat_ids = self._category_ids(len((self.dataset_meta or {}).get('classes') or []), None)
        out: dict[str, float] = {}
        for metric in self.metrics:
            detections = self._detections(results, cat_ids, metric)
            if not detections:
                continue
            lvis_dt = LVISResults(lvis_gt, detections, max_dets=self.max_dets)
            evaluator = LVISEval(lvis_gt, lvis_dt, metric)
            evaluator.params.imgIds = [r['img_id'] for r in results]
            with numpy_float_alias():
                evaluator.run()
            for key, value in evaluator.get_results().items():
                out[f'{metric}_{key}'] = round(float(value), 3)
        return out


__all__ = ['CocoMetric', 'LVISMetric', 'numpy_float_alias', 'per_category_ap', 'xyxy_to_xywh']
