"""Settings dicts of a model component: the documented defaults updated with a config's.

Components such as F-ViT's ``test_cfg`` / ``train_cfg``, its RPN's, CAT-Seg's and FC-CLIP's
``test_cfg`` and ExCEL's ``train_cfg`` / ``segmenter_cfg`` take a partial dict whose keys must
be among the defaults: a typo fails with one line naming the option and the valid keys,
before anything is built.
"""
from __future__ import annotations

from typing import Any, Mapping


def with_defaults(given: Mapping[str, Any] | None, defaults: Mapping[str, Any],
                  what: str) -> dict[str, Any]:
    """``defaults`` updated with ``given`` (None: the defaults), as a new dict.

    Args:
        given: the config's settings (any mapping, e.g. mmengine's ``ConfigDict``).
        defaults: every valid key with its default value.
        what: the option's name in the error (``'rpn test_cfg'``).

    Raises:
        ValueError: ``given`` has keys that ``defaults`` lacks (``unknown {what} keys
            [...]; valid keys: [...]``).
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f'unknown {what} keys {unknown}; valid keys: {sorted(defaults)}')
    return {**defaults, **given}


__all__ = ['with_defaults']
