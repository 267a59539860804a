from __future__ import annotations

import pytest
import torch

from ovperception.models.clip.vocabulary import (TextEmbeddings, Vocabulary, VocabularyError,
                                                 parse_vocabulary_string, split_synonyms)


def test_split_synonyms_normalises_whitespace_and_drops_repeats():
    assert split_synonyms('  person;man ;  woman ;man') == ['person', 'man', 'woman']


def test_parse_flattens_synonyms_and_background_words():
    vocab = Vocabulary.parse(['cat; kitten', 'dog'], background_words=['sky', 'wall'])
    assert vocab.names == ('cat', 'kitten', 'dog', 'sky', 'wall')
    assert vocab.name_to_class == (0, 0, 1, 2, 2)
    assert vocab.class_names == ('cat', 'dog')
    assert vocab.num_classes == 2 and vocab.num_scored_classes == 3


@pytest.mark.parametrize('classnames, message', [
    ([], 'empty'),
    (['cat', ' ; '], 'empty'),
    (['cat', 'Cat'], 'duplicate'),
    (['cat; feline', 'feline'], 'duplicate'),
    ('cat,dog', 'not one string'),
])
def test_bad_vocabularies_raise_clear_errors(classnames, message):
    with pytest.raises(VocabularyError, match=message):
        Vocabulary.parse(classnames)


def test_background_word_may_not_be_a_class():
    with pytest.raises(VocabularyError, match='background word'):
        Vocabulary.parse(['sky', 'dog'], background_words=['sky'])


def test_parse_vocabulary_string():
    assert parse_vocabulary_string('cat, dog; puppy,, grass ') == ['cat', 'dog; puppy', 'grass']
    with pytest.raises(VocabularyError):
        parse_vocabulary_string(' , ')


def test_reduce_synonyms_matches_naive_max():
    vocab = Vocabulary.parse(['a; b; c', 'd', 'e; f'], background_words=['g'])
    text = TextEmbeddings(vocab, torch.zeros(7, 4), torch.tensor(vocab.name_to_class))
    scores = torch.randn(2, 7, 3, 5)
    reduced = text.reduce_synonyms(scores, dim=1)
    assert reduced.shape == (2, 4, 3, 5)
    for cls in range(4):
        members = [i for i, c in enumerate(vocab.name_to_class) if c == cls]
        naive = torch.stack([scores[:, i] for i in members]).max(dim=0).values
        assert torch.equal(reduced[:, cls], naive)
