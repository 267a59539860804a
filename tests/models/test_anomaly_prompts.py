"""WinCLIP / AnoVL state prompts: the reimplementations' template lists and text averaging."""
from __future__ import annotations

import torch

from ovperception.models.anomaly import WinCLIPHead
from ovperception.models.anomaly.prompts import (ANOVL_TEMPLATES, ANOVL_TEXTURE_TEMPLATES,
                                                 WINCLIP_TEMPLATES, state_prompt_templates)
from ovperception.registry import MODELS
from tests.tiny_anomaly import TINY_ANOMALY_BACKBONE


def test_winclip_templates_are_the_reimplementations_list():
    # anomalib prompting.py == Accurate-WinCLIP prompt_order: 21 entries, one doubled
    assert len(WINCLIP_TEMPLATES) == 21 and len(set(WINCLIP_TEMPLATES)) == 20
    assert WINCLIP_TEMPLATES.count('a jpeg corrupted photo of the {}.') == 2
    assert 'a cropped photo of a {}.' not in WINCLIP_TEMPLATES
    assert WINCLIP_TEMPLATES[-1] == 'a photo of a {} for anomaly detection.'
    normal, anomalous = state_prompt_templates('winclip')
    assert (len(normal), len(anomalous)) == (7 * 21, 4 * 21)
    assert normal[0] == 'a cropped photo of the {}.'
    assert anomalous[0] == 'a cropped photo of the damaged {}.'


def test_anovl_templates_are_its_domain_lists():
    assert len(ANOVL_TEMPLATES) == len(ANOVL_TEXTURE_TEMPLATES) == 66
    assert 'an industrial photo of a {} for anomaly detection' in ANOVL_TEMPLATES
    assert 'a manufacturing image of the small {}' in ANOVL_TEMPLATES
    assert 'a cropped surface picture of the {}' in ANOVL_TEXTURE_TEMPLATES
    assert 'a textural photo of a {}' in ANOVL_TEXTURE_TEMPLATES


def test_text_average_unnormalised_is_the_direction_of_the_raw_mean():
    backbone = MODELS.build(dict(TINY_ANOMALY_BACKBONE))
    raw = WinCLIPHead(template_set=['a photo of a {}.', 'a {} in a factory.'], window_sizes=(2,))
    unit = WinCLIPHead(template_set=['a photo of a {}.', 'a {} in a factory.'], window_sizes=(2,),
                       text_average='normalised')
    normal_prompts = [t.format('screw') for t in raw.normal_templates]
    embeddings = backbone.encode_text(normal_prompts, normalize=False).float()
    expected_raw = torch.nn.functional.normalize(embeddings.mean(0), dim=-1)
    expected_unit = torch.nn.functional.normalize(
        torch.nn.functional.normalize(embeddings, dim=-1).mean(0), dim=-1)
    torch.testing.assert_close(raw.text_embeddings(backbone, 'screw')[0], expected_raw)
    torch.testing.assert_close(unit.text_embeddings(backbone, 'screw')[0], expected_unit)
    assert not torch.allclose(expected_raw, expected_unit, atol=1e-4)


def test_texture_objects_use_the_texture_templates():
    backbone = MODELS.build(dict(TINY_ANOMALY_BACKBONE))
    head = WinCLIPHead(template_set='single', texture_template_set=['a {} surface.'],
                       window_sizes=(2,), texture_names=('carpet',))
    plain = WinCLIPHead(template_set=['a {} surface.'], window_sizes=(2,))
    torch.testing.assert_close(head.text_embeddings(backbone, 'carpet'),
                               plain.text_embeddings(backbone, 'carpet'))
    assert not torch.allclose(head.text_embeddings(backbone, 'screw'),
                              plain.text_embeddings(backbone, 'screw'))
