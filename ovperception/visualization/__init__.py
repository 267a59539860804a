"""Visualisation: colour palettes, pure overlay functions and ``OVVisualizer``."""
from __future__ import annotations

from .overlay import (apply_colormap, draw_count, draw_heatmap, draw_instances, draw_sem_seg,
                      draw_title)
from .palette import UNLABELLED_COLOR, colorize_label_map, get_palette
from .visualizer import OVVisualizer

__all__ = [
    'OVVisualizer', 'UNLABELLED_COLOR', 'apply_colormap', 'colorize_label_map', 'draw_count',
    'draw_heatmap', 'draw_instances', 'draw_sem_seg', 'draw_title', 'get_palette'
]
