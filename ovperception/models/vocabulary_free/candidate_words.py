"""Candidate names from retrieved captions: CaSED's text-cleaning chain.

The official CaSED/DenseCaSED code (altndrr/vic, altndrr/vicss ``default_vocab_transform``)
joins an image's retrieved captions into one string and runs, in this order: drop ``<tokens>``,
drop URLs, drop special characters, drop file extensions, turn ``_``/``-`` into spaces, drop
words shorter than 3 characters, drop non-letters, lowercase, singularise plural nouns
(``inflect``), drop generic picture words (``image``, ``photo``...), keep words seen at least
twice (lowering the bar to the most frequent word's count when none is), keep nouns, adjectives
and gerunds/participles by part-of-speech tag, and de-duplicate. The words left are the
candidate class names of the image.

Part-of-speech tagging: the official default is flair's ``pos-english-fast`` model; its other
engine is NLTK's perceptron tagger, which is what :data:`POS_TAGGERS` offers (``'nltk'``, with
the flair semantics: a word is *kept* when its tag is one of :data:`KEPT_POS_TAGS`). ``None``
skips the tag filter (the other steps still run).
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Callable, Sequence

from ovperception.utils.inflect_engine import inflect_engine

#: Generic picture words the official chain drops (whole words, case-insensitive).
PICTURE_WORDS: tuple[str, ...] = (
    'image', 'photo', 'picture', 'thumbnail', 'logo', 'symbol', 'clipart', 'portrait',
    'painting', 'illustration', 'icon', 'profile')
#: Penn Treebank tags of the words kept: nouns, adjectives, gerunds and past participles.
KEPT_POS_TAGS: frozenset[str] = frozenset(
    ('NN', 'NNS', 'NNP', 'NNPS', 'JJ', 'JJR', 'JJS', 'VBG', 'VBN'))
MIN_WORD_LENGTH = 3
MIN_WORD_COUNT = 2
#: Endings ``inflect`` is not asked to singularise (the official guard: "glass", "bus"...).
_SINGULAR_ENDINGS = ('ss', 'us', 'is')
_KEPT_PLURAL_ENDINGS = ('ies', 'oes')

PosTagger = Callable[[str], list[tuple[str, str]]]


class PosTaggerUnavailable(RuntimeError):
    """The chosen part-of-speech tagger's package or model data is missing."""


def nltk_pos_tags(text: str) -> list[tuple[str, str]]:
    """``[(word, Penn tag)]`` of ``text`` by NLTK's tokenizer and perceptron tagger."""
    try:
        import nltk
    except ImportError as error:
        raise PosTaggerUnavailable('the "nltk" part-of-speech tagger needs the nltk package: '
                                   'pip install "ovperception[vocabfree]"') from error
    try:
        return nltk.pos_tag(nltk.word_tokenize(text))
    except LookupError as error:
        raise PosTaggerUnavailable(
            'NLTK\'s tagger data is missing: python -m nltk.downloader punkt_tab '
            'averaged_perceptron_tagger_eng (or set pos_tagger=None)') from error


POS_TAGGERS: dict[str, PosTagger] = {'nltk': nltk_pos_tags}


def _singular(word: str) -> str:
    """``word`` in singular form under the official guard (only ``-s`` words, not
    ``-ss/-us/-is``, ``-ies/-oes`` kept as they are)."""
    if not word.endswith('s') or word.endswith(_SINGULAR_ENDINGS + _KEPT_PLURAL_ENDINGS):
        return word
    return inflect_engine().singular_noun(word) or word


def _clean_characters(text: str) -> str:
    text = re.sub(r'<[^>]+>', '', text)           # <tokens>
    text = re.sub(r'http\S+', '', text)           # URLs
    text = re.sub(r'[^\w\s\-\.\'\&]', '', text)   # special characters
    text = re.sub(r'\.\w+', '', text)             # file extensions
    return re.sub(r'[_\-]', ' ', text)            # separators


def _frequent(words: list[str], min_count: int) -> list[str]:
    """Words seen at least ``min_count`` times (the most frequent words' count when no word
    reaches it)."""
    if min_count <= 1 or not words:
        return words
    counts = Counter(words)
    bar = min(min_count, max(counts.values()))
    return [w for w in words if counts[w] >= bar]


def candidate_words(captions: Sequence[str], pos_tagger: str | PosTagger | None = 'nltk', *,
                    drop_words: Sequence[str] = PICTURE_WORDS,
                    min_count: int = MIN_WORD_COUNT) -> list[str]:
    """The candidate names in ``captions`` (one image's retrieved captions), de-duplicated in
    order of first appearance.

    Args:
        captions: the retrieved captions (or bank entries) of one image or region.
        pos_tagger: ``'nltk'``, a callable ``text -> [(word, tag)]`` or None (no tag filter).
        drop_words: words removed as a whole, case-insensitive.
        min_count: a word must occur this often among the captions (official: 2).
    """
    text = _clean_characters(' '.join(captions))
    text = ' '.join(w for w in text.split() if len(w) >= MIN_WORD_LENGTH)
    text = re.sub(r'[^a-zA-Z\s]', '', text).lower()
    text = ' '.join(_singular(w) for w in text.split())
    if drop_words:
        text = re.sub(r'\b(?:{})\b'.format('|'.join(map(re.escape, drop_words))), '', text,
                      flags=re.IGNORECASE)
    words = _frequent(text.split(), min_count)
    if pos_tagger is not None and words:
        tagger = POS_TAGGERS[pos_tagger] if isinstance(pos_tagger, str) else pos_tagger
        words = [word for word, tag in tagger(' '.join(words)) if tag in KEPT_POS_TAGS]
    return list(dict.fromkeys(words))
