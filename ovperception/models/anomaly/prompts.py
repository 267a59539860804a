"""State prompts for zero-shot anomaly detection (WinCLIP, AnoVL, AnomalyCLIP).

WinCLIP's compositional prompt ensemble fills every *state* ("flawless {}",
"damaged {}") into every *template* ("a cropped photo of the {}.") and averages
the text embeddings into one normal and one anomalous embedding per object name.
Here each (state, template) pair becomes one template with a single ``{}`` for the
object name, so the usual :class:`TextEmbeddingCache` computes and caches the ensemble
(one cache per state family).

* ``'winclip'``: the 7 normal / 4 anomalous states and the 21 templates of the WinCLIP
  reimplementations whose numbers our configs record (anomalib's ``prompting.py`` and
  zqhang/Accurate-WinCLIP-pytorch's ``prompt_order``: the same list in both, including
  ``'a jpeg corrupted photo of the {}.'`` twice, which doubles its weight in the mean).
* ``'anovl'`` / ``'anovl_texture'``: AnoVL's domain-aware templates (hq-deng/AnoVL
  ``prompt_ensemble.py``): 22 base templates (no final period) in three domains each,
  "industrial photo" + "industrial image" + "manufacturing image" for objects and
  "industrial photo" + "textural photo" + "surface picture" for textures, with AnoVL's
  own 7 + 7 states (:data:`ANOVL_NORMAL_STATES`, :data:`ANOVL_ANOMALOUS_STATES`).

How the ensemble is averaged is the head's ``text_average`` option: both
reimplementations and AnoVL average the *unnormalised* embeddings (then normalise);
CLIP's ImageNet recipe averages normalised ones.
"""
from __future__ import annotations

from typing import Sequence

from ovperception.models.clip.prompts import validate_templates

NORMAL_STATES: tuple[str, ...] = (
    '{}', 'flawless {}', 'perfect {}', 'unblemished {}', '{} without flaw',
    '{} without defect', '{} without damage')
ANOMALOUS_STATES: tuple[str, ...] = (
    'damaged {}', '{} with flaw', '{} with defect', '{} with damage')

WINCLIP_TEMPLATES: tuple[str, ...] = (
    'a cropped photo of the {}.', 'a close-up photo of a {}.', 'a close-up photo of the {}.',
    'a bright photo of a {}.', 'a bright photo of the {}.', 'a dark photo of the {}.',
    'a dark photo of a {}.', 'a jpeg corrupted photo of the {}.',
    'a jpeg corrupted photo of the {}.', 'a blurry photo of the {}.', 'a blurry photo of a {}.',
    'a photo of a {}.', 'a photo of the {}.', 'a photo of a small {}.',
    'a photo of the small {}.', 'a photo of a large {}.', 'a photo of the large {}.',
    'a photo of the {} for visual inspection.', 'a photo of a {} for visual inspection.',
    'a photo of the {} for anomaly detection.', 'a photo of a {} for anomaly detection.',
)
if len(WINCLIP_TEMPLATES) != 21:  # pragma: no cover - guards the list above
    raise AssertionError('WinCLIP uses 21 templates')

ANOVL_NORMAL_STATES: tuple[str, ...] = (
    'normal {}', 'flawless {}', 'perfect {}', 'unblemished {}', '{} without flaw',
    '{} without defect', '{} without damage')
ANOVL_ANOMALOUS_STATES: tuple[str, ...] = (
    'damaged {}', 'abnormal {}', 'imperfect {}', 'blemished {}', '{} with flaw',
    '{} with defect', '{} with damage')

# AnoVL's 22 base templates; {kind} is the domain ("industrial photo"), {a} its article.
_ANOVL_BASE: tuple[str, ...] = (
    'a cropped {kind} of the {{}}', 'a cropped {kind} of a {{}}', 'a close-up {kind} of a {{}}',
    'a close-up {kind} of the {{}}', 'a bright {kind} of a {{}}', 'a bright {kind} of the {{}}',
    'a dark {kind} of the {{}}', 'a dark {kind} of a {{}}', 'a jpeg corrupted {kind} of a {{}}',
    'a jpeg corrupted {kind} of the {{}}', 'a blurry {kind} of the {{}}',
    'a blurry {kind} of a {{}}', '{a} {kind} of a {{}}', '{a} {kind} of the {{}}',
    '{a} {kind} of a small {{}}', '{a} {kind} of the small {{}}', '{a} {kind} of a large {{}}',
    '{a} {kind} of the large {{}}', '{a} {kind} of the {{}} for visual inspection',
    '{a} {kind} of a {{}} for visual inspection', '{a} {kind} of the {{}} for anomaly detection',
    '{a} {kind} of a {{}} for anomaly detection')


def _domain_templates(*kinds: str) -> tuple[str, ...]:
    """AnoVL's base templates in each domain ``kind`` (e.g. ``'industrial photo'``)."""
    return tuple(base.format(kind=kind, a='an' if kind[0] in 'aeiou' else 'a')
                 for kind in kinds for base in _ANOVL_BASE)


ANOVL_TEMPLATES = _domain_templates('industrial photo', 'industrial image', 'manufacturing image')
ANOVL_TEXTURE_TEMPLATES = _domain_templates('industrial photo', 'textural photo',
                                            'surface picture')
# AnoVL's texture categories (MVTec AD), which use the texture templates.
TEXTURE_NAMES: tuple[str, ...] = ('carpet', 'leather', 'grid', 'tile', 'wood')

STATE_TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    'winclip': WINCLIP_TEMPLATES, 'anovl': ANOVL_TEMPLATES,
    'anovl_texture': ANOVL_TEXTURE_TEMPLATES, 'single': ('a photo of a {}.',)}

# Object names used in prompts for the MVTec AD and VisA categories (folder name -> words).
OBJECT_NAMES: dict[str, str] = {
    'bottle': 'bottle', 'cable': 'cable', 'capsule': 'capsule', 'carpet': 'carpet',
    'grid': 'grid', 'hazelnut': 'hazelnut', 'leather': 'leather', 'metal_nut': 'metal nut',
    'pill': 'pill', 'screw': 'screw', 'tile': 'tile', 'toothbrush': 'toothbrush',
    'transistor': 'transistor', 'wood': 'wood', 'zipper': 'zipper',
    'candle': 'candle', 'capsules': 'capsules', 'cashew': 'cashew', 'chewinggum': 'chewing gum',
    'fryum': 'fryum', 'macaroni1': 'macaroni', 'macaroni2': 'macaroni',
    'pcb1': 'printed circuit board', 'pcb2': 'printed circuit board',
    'pcb3': 'printed circuit board', 'pcb4': 'printed circuit board', 'pipe_fryum': 'pipe fryum',
}


def object_name(category: str) -> str:
    """Prompt words for a dataset category (unknown categories: underscores -> spaces)."""
    return OBJECT_NAMES.get(category, category.replace('_', ' '))


def compose_state_templates(states: Sequence[str], templates: Sequence[str]) -> tuple[str, ...]:
    """Every state filled into every template: templates with one ``{}`` (the object).

    >>> compose_state_templates(['damaged {}'], ['a photo of the {}.'])
    ('a photo of the damaged {}.',)
    """
    validate_templates(states)
    validate_templates(templates)
    return tuple(template.replace('{}', state) for state in states for template in templates)


def state_prompt_templates(template_set: str | Sequence[str] = 'winclip',
                           normal_states: Sequence[str] = NORMAL_STATES,
                           anomalous_states: Sequence[str] = ANOMALOUS_STATES
                           ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(normal templates, anomalous templates) for a named or explicit template list."""
    if isinstance(template_set, str):
        if template_set not in STATE_TEMPLATE_SETS:
            raise ValueError(f'unknown anomaly template set {template_set!r}; choose one of '
                             f'{sorted(STATE_TEMPLATE_SETS)} or pass a list of templates')
        templates = STATE_TEMPLATE_SETS[template_set]
    else:
        templates = tuple(template_set)
    return (compose_state_templates(normal_states, templates),
            compose_state_templates(anomalous_states, templates))
