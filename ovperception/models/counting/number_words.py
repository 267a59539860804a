"""Numbers in captions: find the count a caption states, swap it, and write count prompts;
the English number words of the counting models (CountCLIP's and CLIP-EBC's, one table).

CountCLIP ("Teaching CLIP to Count to Ten", Paiss et al., ICCV 2023) works with captions
that state an object count as a spelled-out number from two to ten ("three dogs playing
in the yard"). Its counterfactual caption replaces that number by another one; its
zero-shot count of an image is the number whose caption variant scores highest.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from ovperception.utils.inflect_engine import inflect_engine

_UNITS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
          'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen',
          'eighteen', 'nineteen')
_TENS = ('', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety')


def number_word(value: int) -> str:
    """English word of 0..99 as CLIP-EBC writes it (``21`` -> ``'twenty-one'``); hundreds
    ``100, 200, .., 1000`` too; any other number stays digits (CLIP-EBC's ``num2word``)."""
    if 0 <= value < 20:
        return _UNITS[value]
    if 20 <= value < 100:
        tens, unit = divmod(value, 10)
        return _TENS[tens] + ('' if unit == 0 else '-' + _UNITS[unit])
    if value in (100, 200, 300, 400, 500, 600, 700, 800, 900):
        return _UNITS[value // 100] + ' hundred'
    return 'one thousand' if value == 1000 else str(value)


#: Spelled-out numbers, the form CountCLIP's training captions and CountBench use.
NUMBER_WORDS: dict[int, str] = {number: number_word(number) for number in range(13)}
#: The counts CountCLIP trains and CountBench evaluates on.
COUNTBENCH_NUMBERS: tuple[int, ...] = tuple(range(2, 11))
#: The default prompt of an image-level count: a number and the plural class name.
DEFAULT_COUNT_TEMPLATE = 'a photo of {number} {name}.'

_WORD_TO_NUMBER = {word: number for number, word in NUMBER_WORDS.items()}
_NUMBER_PATTERN = re.compile(
    r'\b(' + '|'.join(sorted(_WORD_TO_NUMBER, key=len, reverse=True)) + r'|\d+)\b',
    re.IGNORECASE)


@dataclass(frozen=True)
class NumberSpan:
    """Where a caption states a count: characters ``[start, end)`` and the value."""

    start: int
    end: int
    value: int


def number_spans(caption: str) -> list[NumberSpan]:
    """Every spelled-out number (zero .. twelve) or digit run in ``caption``, in order."""
    spans = []
    for match in _NUMBER_PATTERN.finditer(caption):
        text = match.group(0)
        value = int(text) if text.isdigit() else _WORD_TO_NUMBER[text.lower()]
        spans.append(NumberSpan(match.start(), match.end(), value))
    return spans


def count_span(caption: str, number: int | None = None) -> NumberSpan:
    """The span that states the count of ``caption``.

    Args:
        caption: a caption stating a count.
        number: the known count (CountBench's ``number``): the first span with that value
            is taken; None takes the only number of the caption.

    Raises:
        ValueError: no such number in the caption, or (``number=None``) several numbers.
    """
    spans = number_spans(caption)
    if number is not None:
        for span in spans:
            if span.value == number:
                return span
        raise ValueError(f'caption {caption!r} does not state the number {number}')
    if len(spans) != 1:
        raise ValueError(f'caption {caption!r} states {len(spans)} numbers; give the count '
                         'to choose one')
    return spans[0]


def with_number(caption: str, span: NumberSpan, number: int) -> str:
    """``caption`` with the count at ``span`` replaced by ``number``.

    The replacement keeps the form of the original: a digit run stays digits, a word stays a
    word with the original's capitalisation ("Three" -> "Four", "THREE" -> "FOUR").
    """
    original = caption[span.start:span.end]
    if original.isdigit() or number not in NUMBER_WORDS:
        replacement = str(number)
    else:
        replacement = NUMBER_WORDS[number]
        if original.isupper() and len(original) > 1:
            replacement = replacement.upper()
        elif original[0].isupper():
            replacement = replacement.capitalize()
    return caption[:span.start] + replacement + caption[span.end:]


def caption_variants(caption: str, number: int | None,
                     numbers: Sequence[int] = COUNTBENCH_NUMBERS) -> list[str]:
    """``caption`` restated with each of ``numbers`` (CountBench's zero-shot protocol)."""
    span = count_span(caption, number)
    return [with_number(caption, span, candidate) for candidate in numbers]


def counterfactual_caption(caption: str, number: int | None, rng: random.Random,
                           numbers: Sequence[int] = COUNTBENCH_NUMBERS) -> str:
    """``caption`` with its count replaced by a different number drawn from ``numbers``."""
    span = count_span(caption, number)
    choices = [candidate for candidate in numbers if candidate != span.value]
    if not choices:
        raise ValueError(f'no number other than {span.value} among {list(numbers)}')
    return with_number(caption, span, rng.choice(choices))


def plural(name: str) -> str:
    """English plural of a class name, by the ``inflect`` package: the one plural of the
    counting prompts (CLIP-EBC's bin sentences and CountCLIP's number prompts).

    ``"dog"`` -> ``"dogs"``, ``"red dot"`` -> ``"red dots"``, ``"person"`` -> ``"people"``
    (CLIP-EBC's only class), ``"leaf"`` -> ``"leaves"``, ``"knife"`` -> ``"knives"``,
    ``"tomato"`` -> ``"tomatoes"``, ``"bus"`` -> ``"buses"``, ``"cup of tea"`` -> ``"cups of
    tea"``. Neither official code pluralises a class name (CLIP-EBC hard-codes "people",
    CountCLIP has no released code), so this is ours; it agrees with CLIP-EBC on "person".

    A name that is already plural ("dogs", "people", "sea shells") stays as it is. ``inflect``
    also reads singular nouns ending in -us / -ss / -is ("bus", "cactus") as plurals of
    non-words ("bu"); those are pluralised. A compound that ``inflect`` singularises to itself
    ("person on a bike") is singular.
    """
    engine = inflect_engine()
    singular = engine.singular_noun(name)
    if singular and singular != name and not name.lower().endswith(('us', 'ss', 'is')):
        return name
    return engine.plural_noun(name) or name


def count_prompt(name: str, number: int, template: str = DEFAULT_COUNT_TEMPLATE) -> str:
    """The sentence stating that an image shows ``number`` objects of ``name``.

    ``template`` has ``{number}`` (the spelled-out number) and ``{name}`` (the plural name
    for numbers other than one).
    """
    noun = name if number == 1 else plural(name)
    return template.format(number=NUMBER_WORDS.get(number, str(number)), name=noun)


__all__ = ['COUNTBENCH_NUMBERS', 'DEFAULT_COUNT_TEMPLATE', 'NUMBER_WORDS', 'NumberSpan',
           'caption_variants', 'count_prompt', 'count_span', 'counterfactual_caption',
           'number_spans', 'number_word', 'plural', 'with_number']
