"""The one ``inflect`` engine of the package (plural and singular forms of class names).

The counting prompts pluralise class names (CountCLIP's "three dogs", CLIP-EBC's bin
sentences "There are two leaves."; one function, ``counting.number_words.plural``) and CaSED's
caption chain singularises candidate words ("dogs" -> "dog"); both ask this engine. It is created on first
use, so importing a model does not import ``inflect``, and then kept: building an engine
compiles inflect's word tables.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import inflect


@lru_cache(maxsize=1)
def inflect_engine() -> inflect.engine:
    """The shared ``inflect.engine()`` (ImportError with the install line when missing)."""
    try:
        import inflect
    except ImportError as error:
        raise ImportError('plural and singular class names need the inflect package: '
                          'pip install "inflect>=7.0"') from error
    return inflect.engine()


__all__ = ['inflect_engine']
