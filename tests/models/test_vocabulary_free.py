"""Vocabulary-free segmentation (CaSED / DenseCaSED): golden outputs of the official code,
the caption index (built once, memory-mapped, rebuilt when the source changes) and the
candidate-word chain."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from ovperception.models.vocabulary_free.candidate_words import candidate_words
from ovperception.models.vocabulary_free.caption_bank import (CaptionBank, CaptionBankError,
                                                              keep_first_of_near_duplicates,
                                                              read_entries)
from ovperception.models.vocabulary_free.cased import (CaSEDVocabulary, accumulate_crops,
                                                       multi_crops, score_candidates)

GOLDEN = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'golden', 'cased')


@pytest.fixture(scope='module')
def golden():
    with open(os.path.join(GOLDEN, 'cased_golden.json')) as handle:
        meta = json.load(handle)
    return meta, dict(np.load(os.path.join(GOLDEN, 'cased_golden.npz')))


def _table_encoder(texts, table):
    return lambda names: torch.from_numpy(np.stack([table[n] for n in names]))


def _tagger(tags):
    return lambda text: [(w, tags.get(w, 'NN')) for w in text.split()]


def test_retrieval_matches_official_query(golden):
    meta, arrays = golden
    bank = CaptionBank.encode(meta['captions'], lambda t: torch.from_numpy(
        arrays['database_embeddings'][[meta['captions'].index(x) for x in t]]))
    found = bank.retrieve(torch.from_numpy(arrays['queries']), meta['num_samples'])
    assert [r.captions for r in found] == meta['retrieved']
    for result, similarity in zip(found, meta['retrieved_similarity']):
        np.testing.assert_allclose(result.similarities, similarity, atol=1e-5)


def test_scores_match_official_batch_step(golden):
    meta, arrays = golden
    table = dict(zip(meta['words'], arrays['word_embeddings']))
    bank = CaptionBank.encode(meta['captions'], lambda t: torch.from_numpy(
        arrays['database_embeddings'][[meta['captions'].index(x) for x in t]]))
    queries = torch.from_numpy(arrays['queries'])
    found = bank.retrieve(queries, meta['num_samples'])
    scored = score_candidates(queries, found, _table_encoder(meta['words'], table),
                              _tagger(meta['pos_tags']), meta['alpha'])
    for (words, probs), expected in zip(scored, meta['scores']):
        assert sorted(words) == sorted(expected)  # official order comes from a set()
        np.testing.assert_allclose([float(p) for p in probs], [expected[w] for w in words],
                                   atol=1e-5)


def test_multi_crops_and_cell_map_match_official(golden):
    meta, arrays = golden
    crop = meta['crop']
    crops, boxes = multi_crops(torch.from_numpy(arrays['dense_image']), crop['grid_sizes'],
                               crop['stride_grid'], crop['output_size'])
    np.testing.assert_allclose(boxes.numpy(), arrays['dense_boxes'], atol=1e-6)
    np.testing.assert_allclose(crops.numpy(), arrays['dense_crops'], atol=1e-5)
    cells = accumulate_crops(torch.from_numpy(arrays['dense_crop_embeddings']), boxes,
                             crop['pixel_map_size'])
    np.testing.assert_allclose(cells.numpy(), arrays['dense_cells'].reshape(len(cells), -1),
                               atol=1e-5)


def test_candidate_words_known_answer():
    captions = ['Two red cars parked on the street', 'a red car near <pad> the street',
                'http://x.org/car.jpg a photo of a car']
    tags = {'two': 'CD', 'on': 'IN', 'the': 'DT', 'near': 'IN'}
    assert candidate_words(captions, _tagger(tags)) == ['red', 'car', 'street']
    # nothing occurs twice: the bar drops to the most frequent count (1), every word stays
    assert candidate_words(['glass bus'], None) == ['glass', 'bus']


def test_near_duplicates_keep_the_best_ranked():
    vectors = np.eye(4, dtype=np.float32)
    vectors[2] = vectors[0] * 0.999 + vectors[1] * 0.001
    vectors[3] = vectors[2]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert keep_first_of_near_duplicates(vectors).tolist() == [True, True, False, False]


class _CountingEncoder:
    def __init__(self):
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        generator = torch.Generator().manual_seed(len(texts))
        return torch.nn.functional.normalize(torch.randn(len(texts), 8, generator=generator))


def test_index_is_built_once_memory_mapped_and_rebuilt_on_change(tmp_path):
    source = tmp_path / 'captions.txt'
    source.write_text('# my captions\na dog on grass\n\na cat on a sofa\n')
    encoder = _CountingEncoder()
    bank = CaptionBank.from_source(str(source), encoder, 'w1', str(tmp_path / 'idx'))
    assert bank.entries == ['a dog on grass', 'a cat on a sofa'] and encoder.calls == 1
    assert isinstance(bank.embeddings, np.memmap)
    again = CaptionBank.from_source(str(source), encoder, 'w1', str(tmp_path / 'idx'))
    assert encoder.calls == 1 and np.array_equal(again.embeddings, bank.embeddings)
    CaptionBank.from_source(str(source), encoder, 'w2', str(tmp_path / 'idx'))  # other CLIP
    source.write_text('a dog on grass\na horse\n')
    CaptionBank.from_source(str(source), encoder, 'w1', str(tmp_path / 'idx'))
    assert encoder.calls == 3


def test_sources_folder_csv_default_and_errors(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'x.csv').write_text('id,caption\n1,a red bus\n2,a red bus\n')
    (tmp_path / 'b.txt').write_text('a tram\n')
    assert read_entries(str(tmp_path)) == ['a red bus', 'a tram']
    default = read_entries('default')
    assert len(default) > 700 and 'background' not in default and 'person' in default
    with pytest.raises(CaptionBankError, match='neither'):
        read_entries(str(tmp_path / 'missing.txt'))
    (tmp_path / 'empty.txt').write_text('# nothing\n')
    with pytest.raises(CaptionBankError, match='no entry'):
        read_entries(str(tmp_path / 'empty.txt'))
    with pytest.raises(ValueError, match='pos_tagger'):
        CaSEDVocabulary(pos_tagger='flair')
