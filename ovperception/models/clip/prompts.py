"""Prompt template sets used to turn a class name into text embeddings.

A class embedding is the re-normalised mean of the L2-normalised embeddings of
every template filled with the name (the CLIP prompt ensemble).
"""
from __future__ import annotations

from typing import Sequence

SINGLE_TEMPLATE: tuple[str, ...] = ('a photo of a {}.',)

# The 80 prompts of CLIP's ImageNet zero-shot ensemble.
IMAGENET80_TEMPLATES: tuple[str, ...] = (
    'a bad photo of a {}.', 'a photo of many {}.', 'a sculpture of a {}.',
    'a photo of the hard to see {}.', 'a low resolution photo of the {}.', 'a rendering of a {}.',
    'graffiti of a {}.', 'a bad photo of the {}.', 'a cropped photo of the {}.',
    'a tattoo of a {}.', 'the embroidered {}.', 'a photo of a hard to see {}.',
    'a bright photo of a {}.', 'a photo of a clean {}.', 'a photo of a dirty {}.',
    'a dark photo of the {}.', 'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.',
    'a photo of the cool {}.', 'a close-up photo of a {}.', 'a black and white photo of the {}.',
    'a painting of the {}.', 'a painting of a {}.', 'a pixelated photo of the {}.',
    'a sculpture of the {}.', 'a bright photo of the {}.', 'a cropped photo of a {}.',
    'a plastic {}.', 'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.',
    'a blurry photo of the {}.', 'a photo of the {}.', 'a good photo of the {}.',
    'a rendering of the {}.', 'a {} in a video game.', 'a photo of one {}.', 'a doodle of a {}.',
    'a close-up photo of the {}.', 'a photo of a {}.', 'the origami {}.',
    'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.', 'a origami {}.',
    'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.',
    'a photo of the clean {}.', 'a photo of a large {}.', 'a rendition of a {}.',
    'a photo of a nice {}.', 'a photo of a weird {}.', 'a blurry photo of a {}.',
    'a cartoon {}.', 'art of a {}.', 'a sketch of the {}.', 'a embroidered {}.',
    'a pixelated photo of a {}.', 'itap of the {}.', 'a jpeg corrupted photo of the {}.',
    'a good photo of a {}.', 'a plushie {}.', 'a photo of the nice {}.',
    'a photo of the small {}.', 'a photo of the weird {}.', 'the cartoon {}.', 'art of the {}.',
    'a drawing of the {}.', 'a photo of the large {}.', 'a black and white photo of a {}.',
    'the plushie {}.', 'a dark photo of a {}.', 'itap of a {}.', 'graffiti of the {}.',
    'a toy {}.', 'itap of my {}.', 'a photo of a cool {}.', 'a photo of a small {}.',
    'a tattoo of the {}.',
)

# The 14 prompts of ViLD (used by FC-CLIP, MAFT+ and SAN).
VILD14_TEMPLATES: tuple[str, ...] = (
    'a photo of a {}.', 'This is a photo of a {}', 'There is a {} in the scene',
    'There is the {} in the scene', 'a photo of a {} in the scene', 'a photo of a small {}.',
    'a photo of a medium {}.', 'a photo of a large {}.', 'This is a photo of a small {}.',
    'This is a photo of a medium {}.', 'This is a photo of a large {}.',
    'There is a small {} in the scene.', 'There is a medium {} in the scene.',
    'There is a large {} in the scene.',
)

# The 7-prompt ImageNet subset of GroupViT / TCL ("sub_imagenet_template"; Talk2DINO, FreeDA).
IMAGENET7_TEMPLATES: tuple[str, ...] = (
    'itap of a {}.', 'a bad photo of a {}.', 'a origami {}.', 'a photo of the large {}.',
    'a {} in a video game.', 'art of the {}.', 'a photo of the small {}.',
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    'imagenet7': IMAGENET7_TEMPLATES,
    'single': SINGLE_TEMPLATE,
    'imagenet80': IMAGENET80_TEMPLATES,
    'vild14': VILD14_TEMPLATES,
}


def register_template_set(name: str, templates: Sequence[str], *, overwrite: bool = False) -> None:
    """Add a named template set (each template holds exactly one ``{}``)."""
    if name in TEMPLATE_SETS and not overwrite:
        raise ValueError(f'template set {name!r} already exists')
    TEMPLATE_SETS[name] = validate_templates(templates)


def validate_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Check that ``templates`` is a non-empty sequence of strings with one ``{}`` each."""
    if isinstance(templates, str) or not templates:
        raise ValueError('templates must be a non-empty list of strings with one "{}" each')
    for template in templates:
        if not isinstance(template, str) or template.count('{}') != 1:
            raise ValueError(f'template {template!r} must contain exactly one "{{}}"')
    return tuple(templates)


def get_templates(template_set: str | Sequence[str]) -> tuple[str, ...]:
    """Resolve a template-set name (or an explicit list of templates) to templates."""
    if isinstance(template_set, str):
        if template_set not in TEMPLATE_SETS:
            raise ValueError(f'unknown template set {template_set!r}; '
                             f'choose one of {sorted(TEMPLATE_SETS)} or pass a list of templates')
        return TEMPLATE_SETS[template_set]
    return validate_templates(template_set)


def template_set_key(template_set: str | Sequence[str]) -> str:
    """A stable string identifying a template set, for cache keys."""
    if isinstance(template_set, str):
        get_templates(template_set)
        return template_set
    import hashlib
    digest = hashlib.sha1('\n'.join(get_templates(template_set)).encode()).hexdigest()[:12]
    return f'custom-{digest}'
