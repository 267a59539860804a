"""The ``fvit`` converter on the released F-ViT layouts (tests/fixtures/golden/fvit/NOTE.md,
``layout_fvit_*.json`` from the official constructors): every key finds its place in our
FViT built from the matching config, strictly, and the tool converts a file end to end."""
from __future__ import annotations

import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ovperception.models.checkpoint import load_weights
from ovperception.models.clip.convert import MODEL_PREFIX
from ovperception.models.clip.weights import CheckpointMismatchError
from ovperception.models.conversion import find_converter
from ovperception.models.detection.fvit.convert import convert_fvit, is_fvit_state
from ovperception.registry import MODELS
from tests.models.eva_golden import read_layout
from tests.models.fvit_golden import seeded_fvit_state, tiny_fvit_cfg
from tests.models.golden import load_golden
from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASES = [('fvit_eva_vitb16_ov_coco', 'fvit_vitb16_bs64_3e_ovcoco', 'EVA02-CLIP-B-16'),
            ('fvit_eva_vitl14_ov_coco', 'fvit_vitl14_bs64_3e_ovcoco', 'EVA02-CLIP-L-14-336'),
            ('fvit_eva_vitb16_ov_lvis', 'fvit_vitb16_bs64_4x_ovlvis', 'EVA02-CLIP-B-16'),
            ('fvit_eva_vitl14_ov_lvis', 'fvit_vitl14_bs64_4x_ovlvis', 'EVA02-CLIP-L-14-336')]


def meta_state(layout: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """Names and shapes of a layout without memory (meta tensors)."""
    return {k: torch.empty(v, device='meta') for k, v in layout.items()}


@pytest.mark.parametrize('config, layout_name, eva', RELEASES)
def test_released_layout_converts_onto_the_config_heads(config, layout_name, eva):
    layout = read_layout('fvit', f'layout_{layout_name}.json')
    converted = convert_fvit({'state_dict': meta_state(layout), 'meta': {}})
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'detection', f'{config}.py'))
    init_default_scope('ovperception')
    ours: dict[str, list[int]] = {'background_embedding': [cfg.model.box_head.embed_dim]}
    for part in ('neck', 'rpn_head', 'box_head', 'mask_head'):
        if cfg.model.get(part) is None:
            continue
        module = MODELS.build(cfg.model[part])
        ours.update({f'{part}.{k}': list(v.shape) for k, v in module.state_dict().items()})
    heads = {k: list(v.shape) for k, v in converted.items() if not k.startswith('backbone.')}
    assert heads == ours  # every head entry, no more, same shapes
    # the vision tower is the EVA-CLIP layout whose conversion test_eva_backbones proves
    visual = {k[len('backbone.'):]: v for k, v in layout.items()
              if k.startswith('backbone.visual.') and 'rope.' not in k}
    eva_layout = {k: v for k, v in read_layout('declip', f'layout_{eva}.json').items()
                  if k.startswith('visual.') and 'rope.' not in k}
    assert visual == eva_layout
    assert all(k.startswith(MODEL_PREFIX + 'visual.trunk.')
               for k in converted if k.startswith('backbone.'))
    assert ('mask_head' in cfg.model and cfg.model.mask_head is not None) == ('lvis' in config)


def test_converter_reports_unknown_and_missing_keys():
    golden = load_golden('fvit', 'tiny_fvit.npz')
    state = seeded_fvit_state('lvis', golden['class_embeddings'])
    assert is_fvit_state({'state_dict': state}) and find_converter(state).name == 'fvit'
    with pytest.raises(CheckpointMismatchError, match='roi_head.bbox_head.extra'):
        convert_fvit(dict(state, **{'roi_head.bbox_head.extra.weight': torch.zeros(1)}))
    partial = {k: v for k, v in state.items() if 'blocks.1.' not in k}
    with pytest.raises(CheckpointMismatchError, match='lacks'):
        convert_fvit(partial)
    with pytest.raises(CheckpointMismatchError, match='not tensors'):
        convert_fvit(dict(state, **{'roi_head.bbox_head.fc_reg.bias': [0.0]}))


def test_convert_tool_writes_weights_that_load_into_the_tiny_detector(tmp_path):
    golden = load_golden('fvit', 'tiny_fvit.npz')
    state = seeded_fvit_state('coco', golden['class_embeddings'])
    src, dst = tmp_path / 'fvit_official.pth', tmp_path / 'fvit.pth'
    torch.save({'meta': {'epoch': 3}, 'state_dict': state}, src)
    tool = load_script('tools/convert_checkpoint.py')
    assert tool.main(['fvit', str(src), str(dst)]) == 0
    init_default_scope('ovperception')
    model = MODELS.build(tiny_fvit_cfg('coco'))
    load_weights(model, str(dst))
    assert torch.equal(model.box_head.fc_reg.weight, state['roi_head.bbox_head.fc_reg.weight'])
    assert torch.equal(model.neck.fpn.inner_blocks[2][0].weight,
                       state['neck.lateral_convs.2.conv.weight'])
    expected = state['roi_head.bbox_head.all_embeddings'][:, -1]
    assert torch.equal(model.background_embedding, expected)
    direct = MODELS.build(tiny_fvit_cfg('coco'))
    load_weights(direct, str(src))  # the official file is recognised by its keys
    assert torch.equal(direct.rpn_head.rpn_cls.weight, model.rpn_head.rpn_cls.weight)


@pytest.mark.parametrize('config, layout_name, eva', RELEASES)
def test_released_configs_record_the_readme_numbers_and_the_repo_settings(config, layout_name,
                                                                          eva):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'detection', f'{config}.py'))
    published = cfg.published_metrics
    assert 'wusize/CLIPSelf F-ViT/README.md' in published['source']
    key, value = next((k, v) for k, v in published.items() if k != 'source')
    lvis = 'lvis' in config
    assert key == ('lvis/segm_APr' if lvis else 'coco/bbox_novel_ap50') and 0 < value < 1
    assert cfg.test_evaluator.type.__name__ == ('LVISMetric' if lvis else 'CocoMetric')
    model = cfg.model
    side = 896 if 'vitl14' in config else (1024 if lvis else 640)
    assert model.test_cfg.pad_to == side
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert resize.short_side == resize.max_long_side == side
    assert model.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert model.backbone.dense_mode == 'maskclip'
    assert (model.alpha, model.beta) == (0.1, (0.4 if 'vitl14' in config else 0.6) if lvis
                                         else 0.8)
    assert model.vlm_temperature == (50.0 if lvis else 75.0)
    from ovperception.models.clip.classnames import load_classnames
    assert len(load_classnames(model.seen_classnames)) == (866 if lvis else 48)
