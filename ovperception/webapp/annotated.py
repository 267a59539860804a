"""The interactive view: the input image (at most VIEW_MAX_SIDE pixels) with one highlighted
region (or box) per result item in its class's overlay colour, labelled with class and score."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ovperception.structures import OVDataSample
from ovperception.utils.annotations import to_numpy
from ovperception.utils.panoptic import INSTANCE_OFFSET
from ovperception.visualization import get_palette
from ovperception.webapp.summaries import label_names

#: At most this many regions are listed (largest / highest-scoring first).
MAX_REGIONS = 100
#: Longer side (pixels) of the interactive view: its masks are made at this size, never at
#: the input's (a 24-MP input with 100 regions would need 100 full-size masks).
VIEW_MAX_SIDE = 1024
#: Colour of the anomaly map in the interactive view.
ANOMALY_COLOR = '#ff0000'

Region = tuple[np.ndarray | tuple[int, int, int, int], str]


@dataclass
class ResultView:
    """The interactive view of a result.

    Attributes:
        image: (h, w, 3) uint8 input at the view's size (longer side <= VIEW_MAX_SIDE).
        regions: (mask (h, w) float 0..1 or box xyxy in view pixels, label) pairs.
        colors: label -> ``#rrggbb``: each class in the colour the overlay gives it.
    """

    image: np.ndarray
    regions: list[Region] = field(default_factory=list)
    colors: dict[str, str] = field(default_factory=dict)


def view_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(h, w) of the view of an (H, W, ...) input."""
    height, width = int(shape[0]), int(shape[1])
    scale = min(1.0, VIEW_MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _sampled(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour samples of a (H, W) map at (h, w)."""
    rows = np.arange(shape[0]) * values.shape[0] // shape[0]
    cols = np.arange(shape[1]) * values.shape[1] // shape[1]
    return values[np.ix_(rows, cols)]


def _hex(color: np.ndarray) -> str:
    return '#' + ''.join(f'{int(v):02x}' for v in color[:3])


def result_view(task: str, sample: OVDataSample, image: np.ndarray) -> ResultView:
    """The interactive view of ``sample``, a prediction for ``image`` (H, W, 3)."""
    names = label_names(sample)
    shape = view_shape(image.shape)
    view_image = image if shape == image.shape[:2] else cv2.resize(
        image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    palette = get_palette(max(len(names), 1))
    view = ResultView(view_image)

    def add(region: np.ndarray | tuple[int, int, int, int], text: str, label: int) -> None:
        view.regions.append((region, text))
        view.colors[text] = _hex(palette[label % len(palette)])

    if task == 'anomaly':
        amap = to_numpy(sample.pred_anomaly_map.data[0]).astype(np.float32)
        score = float(sample.pred_score) if 'pred_score' in sample else float(amap.max())
        span = float(amap.max() - amap.min()) or 1.0
        amap = cv2.resize((amap - amap.min()) / span, (shape[1], shape[0]),
                          interpolation=cv2.INTER_LINEAR)
        text = f'anomaly map (image score {score:.3f})'
        view.regions.append((amap, text))
        view.colors[text] = ANOMALY_COLOR
        return view
    scale_x, scale_y = shape[1] / image.shape[1], shape[0] / image.shape[0]
    if task in ('detection', 'counting') and 'pred_instances' in sample \
            and 'bboxes' in sample.pred_instances:
        instances = sample.pred_instances
        boxes = to_numpy(instances.bboxes).reshape(-1, 4)
        labels = to_numpy(instances.labels).reshape(-1)
        scores = to_numpy(instances.scores).reshape(-1) if 'scores' in instances \
            else np.ones(len(boxes))
        for rank, i in enumerate(np.argsort(-scores)[:MAX_REGIONS]):
            x1, y1, x2, y2 = boxes[i]
            add((int(round(x1 * scale_x)), int(round(y1 * scale_y)), int(round(x2 * scale_x)),
                 int(round(y2 * scale_y))),
                f'{names[int(labels[i])]} {float(scores[i]):.2f} #{rank + 1}', int(labels[i]))
        return view
    if task == 'counting':
        return view  # density only: the overlay tab shows it
    if task == 'panoptic' and 'pred_panoptic_seg' in sample:
        full = to_numpy(sample.pred_panoptic_seg.data[0])
        ids = _sampled(full, shape)
        values, areas = np.unique(full[full >= 0], return_counts=True)
        for i in np.argsort(-areas)[:MAX_REGIONS]:
            label = int(values[i]) % INSTANCE_OFFSET
            add((ids == values[i]).astype(np.float32),
                f'{names[label]} #{int(values[i]) // INSTANCE_OFFSET} '
                f'{100.0 * areas[i] / full.size:.1f} %', label)
        return view
    full = to_numpy(sample.pred_sem_seg.data[0])
    labels = _sampled(full, shape)
    probs = to_numpy(sample.seg_logits.data) if 'seg_logits' in sample else None
    counts = np.bincount(full[full != 255].ravel().astype(np.int64), minlength=len(names))
    for index, name in enumerate(names[:MAX_REGIONS]):
        if counts[index] == 0:
            continue
        mask = labels == index
        text = f'{name} {100.0 * counts[index] / full.size:.1f} %'
        if probs is not None and mask.any():
            text += f', score {_mean_in_mask(probs[index], mask):.2f}'
        add(mask.astype(np.float32), text, index)
    return view


def _mean_in_mask(prob: np.ndarray, mask: np.ndarray) -> float:
    """Mean of a (h, w) probability map over a (H, W) mask (nearest sampling)."""
    return float(_sampled(prob, mask.shape)[mask].mean())


#: Marker colours (RGB) of SAM prompts in the input view.
PROMPT_COLORS = {1: (0, 200, 0), 0: (230, 0, 0), 2: (255, 210, 0)}


def draw_prompts(image: np.ndarray, prompts: list[tuple[float, float, int]],
                 corner: tuple[float, float] | None = None,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """The (H, W, 3) input at the view's size with SAM prompts drawn: points (label 1
    foreground, 0 background) as discs, a box (label 2 corners) as a rectangle, a pending
    first ``corner`` as a cross, and SAM's (H, W) ``mask`` as a blue tint."""
    shape = view_shape(image.shape)
    view = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) \
        if shape != image.shape[:2] else image.copy()
    scale = shape[1] / image.shape[1]
    if mask is not None:
        small = _sampled(np.asarray(mask, bool), shape)
        view[small] = (0.5 * view[small] + 0.5 * np.array([30, 90, 255])).astype(np.uint8)
    radius = max(4, round(max(shape) / 100))
    corners = [(x, y) for x, y, label in prompts if label == 2]
    if len(corners) == 2:
        (x1, y1), (x2, y2) = corners
        cv2.rectangle(view, (round(x1 * scale), round(y1 * scale)),
                      (round(x2 * scale), round(y2 * scale)), PROMPT_COLORS[2],
                      max(2, radius // 2))
    for x, y, label in prompts:
        if label != 2:
            center = (round(x * scale), round(y * scale))
            cv2.circle(view, center, radius + 2, (255, 255, 255), -1)
            cv2.circle(view, center, radius, PROMPT_COLORS[label], -1)
    if corner is not None:
        cv2.drawMarker(view, (round(corner[0] * scale), round(corner[1] * scale)),
                       PROMPT_COLORS[2], cv2.MARKER_CROSS, 3 * radius, max(2, radius // 2))
    return view
