"""Tiny constructor arguments for every registered model component (used by test_registry).

Task families keep their entries in ``tests/tiny_<task>.py`` modules, each defining a
``TINY`` dict; they are merged into :data:`TINY` here (a name defined twice is an error).
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

TINY_CLIP_KWARGS = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
TINY_BACKBONE = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                     dense_mode='sclip', model_kwargs=TINY_CLIP_KWARGS)

TINY_DEEPER_BACKBONE = dict(TINY_BACKBONE, model_kwargs=dict(
    TINY_CLIP_KWARGS, vision_cfg=dict(TINY_CLIP_KWARGS['vision_cfg'], layers=4)))

TINY: dict[str, dict] = {
    'OpenCLIPBackbone': TINY_BACKBONE,
    'SCCLIPBackbone': dict(type='SCCLIPBackbone', clip=TINY_DEEPER_BACKBONE,
                           pre_adjust_layer=2, post_adjust_layer=0, fusion_layers=(0, 3)),
    'ResCLIPBackbone': dict(type='ResCLIPBackbone',
                            clip=dict(TINY_DEEPER_BACKBONE, dense_mode='naclip'),
                            rcs_layers=(1, 3)),
    'DenseSimilarityHead': dict(type='DenseSimilarityHead'),
    'AdaptedSimilarityHead': dict(type='AdaptedSimilarityHead', in_channels=32,
                                  hidden_channels=8),
    'OVDataPreprocessor': dict(type='OVDataPreprocessor'),
    'ExCELModel': dict(type='ExCELModel', backbone=dict(
        TINY_BACKBONE, pos_embed_resize='bilinear', model_kwargs=dict(
            TINY_CLIP_KWARGS, vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=6,
                                             head_width=32))), input_size=64),
    'ExCELSegHead': dict(type='ExCELSegHead', in_channels=64, num_layers=6, embed_dim=16,
                         num_classes=4, decoder_layers=1, decoder_heads=2),
    'CaSEDVocabulary': dict(type='CaSEDVocabulary', entries_are_names=True,
                            region_grid_sizes=(2,), region_crop_size=32, pixel_map_size=4),
    'PAMRRefiner': dict(type='PAMRRefiner', num_iter=2, dilations=(1, 2)),
    'OVModel': dict(type='OVModel', backbone=TINY_BACKBONE,
                    head=dict(type='DenseSimilarityHead'), template_set='single',
                    test_cfg=dict(mode='slide', crop_size=64, stride=32)),
}


def _merge_task_entries() -> None:
    """Add the ``TINY`` dict of every ``tests/tiny_<task>.py`` module to :data:`TINY`."""
    for module_info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module_info.name.startswith('tiny_'):
            continue
        entries = importlib.import_module(f'tests.{module_info.name}').TINY
        twice = sorted(set(entries) & set(TINY))
        if twice:
            raise KeyError(f'tiny entries defined twice ({module_info.name}): {twice}')
        TINY.update(entries)


_merge_task_entries()
