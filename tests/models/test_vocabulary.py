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


def test_shared_names_only_when_allowed_and_ties_go_to_the_first_class():
    """SCLIP's COCO-Object file lists 'bed' as a background word and as a class."""
    from ovperception.models.clip.classnames import load_classnames
    from ovperception.models.segmentation import DenseSimilarityHead
    with pytest.raises(VocabularyError, match='duplicate'):
        Vocabulary.parse(['a; x', 'b; x'])
    vocabulary = Vocabulary.parse(['a; x', 'b; x'], shared_names=True)
    assert vocabulary.names == ('a', 'x', 'b', 'x')
    assert vocabulary.name_to_class == (0, 0, 1, 1)
    text = TextEmbeddings(vocabulary, torch.eye(4), torch.tensor(vocabulary.name_to_class))
    cosine = torch.tensor([0.1, 0.5, 0.2, 0.5])[:, None, None].expand(4, 2, 3)
    head = DenseSimilarityHead(logit_scale=40.0, prob_threshold=0.1, background_index=1)
    assert bool((head.labels_from_cosine(cosine, text, (2, 3)) == 0).all())
    names = load_classnames('sclip/coco_object')  # the file carries '# ovp: shared-names'
    assert len(Vocabulary.parse(names, shared_names=True).names) == 113
