"""State prompts for zero-shot anomaly detection (WinCLIP, AnoVL, AnomalyCLIP).

WinCLIP's compositional prompt ensemble fills every *state* ("flawless {}",
"damaged {}") into every *template* ("a cropped photo of the {}.") and averages
the L2-normalised text embeddings into one normal and one anomalous embedding
per object name. Here each (state, template) pair becomes one template with a
single ``{}`` for the object name, so the usual :class:`TextEmbeddingCache`
computes and caches the ensemble (one cache per state family).

The state words and the 21 templates follow the WinCLIP paper / anomalib's
``prompting.py`` lists (re-typed, 7 normal and 4 anomalous states); the
domain-aware templates are our reading of AnoVL's "unified domain-aware
contrastive state prompts" (industrial-inspection wording), not a copy of its list.
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
    'a cropped photo of the {}.', 'a cropped photo of a {}.', 'a close-up photo of a {}.',
    'a close-up photo of the {}.', 'a bright photo of a {}.', 'a bright photo of the {}.',
    'a dark photo of the {}.', 'a dark photo of a {}.', 'a jpeg corrupted photo of a {}.',
    'a jpeg corrupted photo of the {}.', 'a blurry photo of the {}.', 'a blurry photo of a {}.',
    'a photo of a {}.', 'a photo of the {}.', 'a photo of a small {}.', 'a photo of the small {}.',
    'a photo of a large {}.', 'a photo of the large {}.',
    'a photo of the {} for visual inspection.', 'a photo of a {} for visual inspection.',
    'a photo of the {} for anomaly detection.',
)
if len(WINCLIP_TEMPLATES) != 21:  # pragma: no cover - guards the list above
    raise AssertionError('WinCLIP uses 21 templates')

# Domain-aware templates (AnoVL-style): the same states in inspection / industrial wording.
ANOVL_TEMPLATES: tuple[str, ...] = (
    'a photo of a {} for visual inspection.', 'a photo of the {} for anomaly detection.',
    'an industrial photo of a {}.', 'an industrial photo of the {}.',
    'a close-up industrial photo of a {}.', 'a photo of a {} on a production line.',
    'a macro photo of the {} surface.', 'a quality-control photo of a {}.',
    'a cropped industrial image of the {}.', 'a photo of a manufactured {}.',
)

STATE_TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    'winclip': WINCLIP_TEMPLATES, 'anovl': ANOVL_TEMPLATES, 'single': ('a photo of a {}.',)}

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
