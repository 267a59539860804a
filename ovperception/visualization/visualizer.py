"""``OVVisualizer``: draws whatever ``gt_*`` / ``pred_*`` fields a data sample holds."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from mmengine.dist import master_only
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from ..registry import VISUALIZERS
from ..structures import display_names
from ..utils.annotations import to_numpy
from ..utils.atomic import atomic_save_image
from .canvas import add_title, font_scale_for, hstack, to_rgb_uint8, vstack
from .overlay import draw_count, draw_heatmap, draw_instances, draw_sem_seg, draw_title


def _data(field: Any) -> np.ndarray:
    """The ``data`` of a ``PixelData`` (or the array itself) as numpy."""
    return to_numpy(getattr(field, 'data', field))


def _scalar(value: Any) -> float:
    return float(to_numpy(value).reshape(-1)[0])


def count_title(counts: np.ndarray, names: list[str]) -> str:
    """``'count: 12.3'`` for one count; ``'cat: 2.0, dog: 3.0 | total: 5.0'`` for (K,) counts."""
    values = np.asarray(counts, np.float64).reshape(-1)
    if values.size == 1:
        return f'count: {float(values[0]):.1f}'
    labels = [names[i] if i < len(names) else f'class {i}' for i in range(values.size)]
    per_class = ', '.join(f'{label}: {value:.1f}' for label, value in zip(labels, values))
    return f'{per_class} | total: {float(values.sum()):.1f}'


@VISUALIZERS.register_module()
class OVVisualizer(Visualizer):
    """Visualiser for every ovperception task, fed with ``OVDataSample``\\ s.

    ``add_datasample`` draws one panel per field present on each side: semantic
    maps (overlay + legend), instances (boxes, tags, masks, points), density maps
    with counts, anomaly maps with image scores. Ground truth and prediction
    columns are placed side by side (``Ground truth | Prediction``) when both are
    drawn. Class names come from the sample's ``label_names``, else its
    ``classnames`` (first synonym), else ``dataset_meta['classes']``.

    Args:
        name: instance name (mmengine ``ManagerMixin``).
        image: optional initial image.
        vis_backends: mmengine visualisation backends.
        save_dir: backends' save directory.
        alpha: overlay opacity.
        score_threshold: predicted instances scoring below are not drawn.
        colormap: colormap of density / anomaly maps.
        legend: legend placement of semantic maps (see ``draw_sem_seg``).
        min_size: upscale images whose shorter side is smaller than this.
        **kwargs: forwarded to ``mmengine.visualization.Visualizer``.
    """

    def __init__(self, name: str = 'visualizer', image: np.ndarray | None = None,
                 vis_backends: Any = None, save_dir: str | None = None, alpha: float = 0.5,
                 score_threshold: float = 0.3, colormap: str = 'jet', legend: str = 'auto',
                 min_size: int = 256, **kwargs: Any) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends,
                         save_dir=save_dir, **kwargs)
        self.alpha = alpha
        self.score_threshold = score_threshold
        self.colormap = colormap
        self.legend = legend
        self.min_size = min_size

    def _label_names(self, sample: BaseDataElement) -> list[str]:
        """Display names of the sample's classes."""
        names = display_names(sample.metainfo)
        if names:
            return names
        meta = self.dataset_meta or {}
        return [str(c) for c in meta.get('classes', [])]

    @staticmethod
    def _coord_scale(image: np.ndarray, sample: BaseDataElement) -> np.ndarray:
        """(sx, sy) from the sample's ``ori_shape`` coordinates to the drawn image."""
        ori = sample.metainfo.get('ori_shape')
        if not ori:
            return np.ones(2)
        return np.array([image.shape[1] / max(ori[1], 1), image.shape[0] / max(ori[0], 1)])

    def draw_side(self, image: np.ndarray, sample: BaseDataElement,
                  prefix: str) -> list[np.ndarray]:
        """Draw every ``{prefix}_*`` field of a sample.

        Args:
            image: (H, W, 3) uint8 RGB image.
            sample: the data sample.
            prefix: ``'gt'`` or ``'pred'``.

        Returns:
            The drawn (H', W', 3) uint8 RGB panels, possibly none.
        """
        names = self._label_names(sample)
        common = dict(min_size=self.min_size)
        panels: list[np.ndarray] = []
        sem_seg = sample.get(f'{prefix}_sem_seg')
        if sem_seg is not None:
            panels.append(draw_sem_seg(image, _data(sem_seg), names, alpha=self.alpha,
                                       legend=self.legend, **common))
        instances = sample.get(f'{prefix}_instances')
        if instances is not None and 'bboxes' in instances:
            scale = self._coord_scale(image, sample)
            points = instances.get('points')
            scores = instances.get('scores')
            panels.append(draw_instances(
                image, to_numpy(instances.bboxes) * np.tile(scale, 2), to_numpy(instances.labels),
                None if scores is None else to_numpy(scores), names,
                masks=None if instances.get('masks') is None else to_numpy(instances.masks),
                points=None if points is None else to_numpy(points).reshape(-1, 2) * scale,
                score_threshold=self.score_threshold if prefix == 'pred' else -np.inf,
                alpha=self.alpha, **common))
        density, count = sample.get(f'{prefix}_density'), sample.get(f'{prefix}_count')
        title = None if count is None else count_title(to_numpy(count), names)
        if density is not None:
            # (K, h, w) one map per class: draw their sum, per-class counts in the title
            dens = _data(density).astype(np.float64)
            dens = dens.reshape(-1, *dens.shape[-2:]).sum(0)
            value = (float(to_numpy(count).sum()) if count is not None
                     else float(np.nansum(dens)))
            panels.append(draw_count(image, dens, value, alpha=self.alpha,
                                     colormap=self.colormap, title=title, **common))
        elif title is not None:
            panels.append(draw_title(image, title, **common))
        anomaly, score = sample.get(f'{prefix}_anomaly_map'), sample.get(f'{prefix}_score')
        score_title = None if score is None else f'anomaly score: {_scalar(score):.3f}'
        if anomaly is not None:
            panels.append(draw_heatmap(
                image, _data(anomaly), alpha=self.alpha, colormap=self.colormap,
                value_range=(0.0, 1.0) if prefix == 'gt' else None, title=score_title,
                **common))
        elif score_title is not None:
            panels.append(draw_title(image, score_title, **common))
        return panels

    def compose(self, image: np.ndarray, data_sample: BaseDataElement | None,
                draw_gt: bool = True, draw_pred: bool = True) -> np.ndarray:
        """Draw a sample into one RGB image (``Ground truth | Prediction`` columns).

        Returns:
            (H', W', 3) uint8 RGB image; the input image when nothing is drawn.
        """
        image = to_rgb_uint8(image)
        if data_sample is None:
            return image
        columns: list[tuple[str, Sequence[np.ndarray]]] = []
        if draw_gt:
            columns.append(('Ground truth', self.draw_side(image, data_sample, 'gt')))
        if draw_pred:
            columns.append(('Prediction', self.draw_side(image, data_sample, 'pred')))
        columns = [(title, panels) for title, panels in columns if panels]
        if not columns:
            return image
        stacked = [(title, vstack(panels)) for title, panels in columns]
        if len(stacked) == 1:
            return stacked[0][1]
        width = min(col.shape[1] for _, col in stacked)
        scale, thickness = font_scale_for(width, width)
        return hstack([add_title(col, title, scale, thickness) for title, col in stacked],
                      gap=8)

    @master_only
    def add_datasample(self, name: str, image: np.ndarray,
                       data_sample: BaseDataElement | None = None, draw_gt: bool = True,
                       draw_pred: bool = True, show: bool = False, wait_time: float = 0,
                       out_file: str | Path | None = None, step: int = 0,
                       **kwargs: Any) -> np.ndarray:
        """Draw a data sample; show it, write it to ``out_file`` or send it to backends.

        Args:
            name: image identifier for the backends and the window title.
            image: (H, W, 3) uint8 RGB image the sample's coordinates refer to
                (``ori_shape`` coordinates are rescaled to it).
            data_sample: an ``OVDataSample`` (or any element with ``gt_*``/``pred_*``).
            draw_gt: draw ground-truth fields.
            draw_pred: draw prediction fields.
            show: display the result in a window.
            wait_time: seconds to wait when showing.
            out_file: write the drawing here atomically (format from its extension)
                instead of sending it to the backends.
            step: global step for the backends.
            **kwargs: ignored (signature compatibility with mmseg / mmdet hooks).

        Returns:
            The drawn (H', W', 3) uint8 RGB image.
        """
        drawn = self.compose(image, data_sample, draw_gt, draw_pred)
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            atomic_save_image(out_file, drawn)
        else:
            self.add_image(name, drawn, step)
        return drawn
