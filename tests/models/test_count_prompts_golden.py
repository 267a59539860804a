"""Count prompts of CLIP-EBC and CountCLIP: the official CLIP-EBC sentences for every bin list
of its shipped configs (golden, tests/fixtures/golden/clip_ebc/prompts.json) and the one plural
both methods share (irregular names by their dictionary plural)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovperception.models.counting.blockwise_head import BlockwiseCountingHead
from ovperception.models.counting.count_bins import CountBins
from ovperception.models.counting.number_words import count_prompt, plural

GOLDEN = json.loads((Path(__file__).parents[1] / 'fixtures' / 'golden' / 'clip_ebc'
                     / 'prompts.json').read_text())
BIN_SETS = GOLDEN['bin_sets']
# Dictionary plurals (nouns whose plural is not "+s"), and names that must stay as they are.
IRREGULAR = {
    'person': 'people', 'man': 'men', 'woman': 'women', 'child': 'children', 'mouse': 'mice',
    'goose': 'geese', 'foot': 'feet', 'tooth': 'teeth', 'ox': 'oxen', 'sheep': 'sheep',
    'deer': 'deer', 'fish': 'fish', 'goldfish': 'goldfish', 'salmon': 'salmon',
    'aircraft': 'aircraft', 'leaf': 'leaves', 'knife': 'knives', 'wolf': 'wolves',
    'shelf': 'shelves', 'loaf': 'loaves', 'calf': 'calves', 'tomato': 'tomatoes',
    'potato': 'potatoes', 'hero': 'heroes', 'photo': 'photos', 'piano': 'pianos',
    'box': 'boxes', 'bus': 'buses', 'glass': 'glasses', 'watch': 'watches', 'dish': 'dishes',
    'city': 'cities', 'baby': 'babies', 'toy': 'toys', 'nucleus': 'nuclei', 'axis': 'axes',
    'cherry tomato': 'cherry tomatoes', 'kitchen knife': 'kitchen knives',
    'maple leaf': 'maple leaves', 'cup of tea': 'cups of tea', 'traffic light': 'traffic lights',
    'Person': 'People', 'people': 'people', 'sea shells': 'sea shells', 'leaves': 'leaves',
    'scissors': 'scissors', 'jeans': 'jeans', 'species': 'species'}


def _bins(raw: list) -> CountBins:
    """A shipped bin list (``[[0, 0], [1, 2], [3, "inf"]]``) in our notation."""
    return CountBins.build([[lo] if lo == hi else [lo, float(hi)] for lo, hi in raw])


def test_fixture_covers_every_shipped_bin_list():
    kinds = {(s['source'], s['truncation'], s['granularity']) for s in BIN_SETS}
    assert len(kinds) == 9 and {s['granularity'] for s in BIN_SETS} == {
        'fine', 'dynamic', 'coarse'}
    assert GOLDEN['commit'] == 'b52a5944bd75beed34fd3d0da516aa833ae63354'


@pytest.mark.parametrize('prompt_type', ['word', 'number'])
@pytest.mark.parametrize('bin_set', BIN_SETS, ids=lambda s: f"{s['source']}-{s['truncation']}-"
                         f"{s['granularity']}")
def test_bin_prompts_equal_official_format_count(bin_set, prompt_type):
    """Every sentence the official code writes is ours, word for word; where it raises (its
    range bins), ours is the sentence its f-string spells."""
    ours = _bins(bin_set['bins']).prompts('person', prompt_type=prompt_type)
    official = bin_set['prompts'][prompt_type]
    assert len(ours) == len(official)
    for (lo, hi), mine, theirs in zip(bin_set['bins'], ours, official):
        if isinstance(theirs, dict):  # the official format_count raises on [lo, hi], lo < hi
            assert theirs['error'].startswith('ValueError: too many values to unpack')
            assert lo != hi and hi != 'inf'
            assert mine.startswith('There are between ') and mine.endswith(' people.')
        else:
            assert mine == theirs


def test_head_prompts_of_a_vocabulary_are_the_official_sentences_per_class():
    fine_t4 = next(s for s in BIN_SETS if s['truncation'] == '4')
    head = BlockwiseCountingHead(8, bins=[[0], [1], [2], [3], [4, 'inf']])
    prompts = head.vocabulary_prompts(['person', 'leaf'])
    assert prompts[:5] == fine_t4['prompts']['word']
    assert prompts[5:] == ['There is no leaf.', 'There is one leaf.', 'There are two leaves.',
                           'There are three leaves.', 'There are more than four leaves.']


@pytest.mark.parametrize('name, expected', sorted(IRREGULAR.items()))
def test_one_plural_for_both_counting_methods(name, expected):
    assert plural(name) == expected
    # CLIP-EBC's bin sentences and CountCLIP's number prompts use the same plural
    assert CountBins.build([[0], [1], [2, float('inf')]]).prompts(name)[2] == (
        f'There are more than two {expected}.')
    assert count_prompt(name, 3) == f'a photo of three {expected}.'
    assert count_prompt(name, 1) == f'a photo of one {name}.'

