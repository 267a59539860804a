"""The one tags lookup shared by ``TaggedImageDataset`` and ``tools/annotate.py --tags-from``:
both callers match tags to vocabulary entries the same way (case, white space, synonyms)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from ovperception.annotation.image_vocabularies import dataset_vocabulary
from ovperception.datasets import TaggedImageDataset
from ovperception.utils.tags_file import TagsFileError, tag_key, tag_lookup, vocabulary_from_tags

VOCABULARY = ['background', 'traffic  light; signal', 'Person;man', 'cat; kitten']
# tag as written -> index in VOCABULARY (case, runs of white space, synonyms, whole entry)
TAGS = {'Traffic Light': 1, ' SIGNAL ': 1, 'man': 2, 'person': 2, 'cat;kitten': 3,
        'Kitten': 3, 'traffic\tlight': 1}


def test_tag_key_folds_case_and_white_space_per_synonym() -> None:
    assert tag_key('  Traffic   Light;cat ') == 'traffic light; cat'
    assert tag_key(' ; ') == ''


def test_lookup_names_every_synonym_and_whole_entry_first_entry_wins() -> None:
    lookup = tag_lookup(VOCABULARY)
    assert {tag: lookup[tag_key(tag)] for tag in TAGS} == TAGS
    assert tag_lookup(['bed', 'sofa; bed'])['bed'] == 0  # a shared name: the first entry


def test_vocabulary_from_tags_keeps_the_first_spelling_once() -> None:
    assert vocabulary_from_tags([['Cat', 'dog'], ['cat', 'traffic  light', 'Traffic light']],
                                first=['background']) == [
        'background', 'Cat', 'dog', 'traffic  light']


def test_annotation_and_dataset_resolve_tags_alike(tmp_path) -> None:
    """The same tags give the same indices through both callers."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    lines = ['image,tags']
    for number, tag in enumerate(TAGS):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / f'{number}.png')
        lines.append(f'{number}.png,"{tag}"')
    (tmp_path / 'tags.csv').write_text('\n'.join(lines) + '\n')
    dataset = TaggedImageDataset(img_dir=str(folder), tags_file=str(tmp_path / 'tags.csv'),
                                 classnames=VOCABULARY)
    from_dataset = {os.path.basename(s['img_path']): s['image_tags'] for s in dataset}
    _, index = dataset_vocabulary([list(TAGS)], VOCABULARY)
    for number, (tag, expected) in enumerate(TAGS.items()):
        assert from_dataset[f'{number}.png'] == [expected] == [index[tag]], tag


def test_annotation_union_folds_spellings_into_one_class() -> None:
    """Without --vocab, 'Cat' and 'cat ' were two classes whose names the model then refused
    as a duplicate; they are one class now, as in TaggedImageDataset's default vocabulary."""
    vocabulary, index = dataset_vocabulary([['Cat', 'dog'], ['cat ', 'traffic  light'],
                                            ['Traffic light']], None)
    assert vocabulary == ['Cat', 'dog', 'traffic  light']
    assert index == {'Cat': 0, 'dog': 1, 'cat ': 0, 'traffic  light': 2, 'Traffic light': 2}


def test_unknown_tags_and_empty_unions_are_one_line_errors() -> None:
    with pytest.raises(TagsFileError, match=r"\['horse'\] are not names"):
        dataset_vocabulary([['cat', 'horse']], ['cat'])
    with pytest.raises(TagsFileError, match='no class'):
        dataset_vocabulary([[], []], None)
