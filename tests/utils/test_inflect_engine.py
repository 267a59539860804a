import subprocess
import sys

from ovperception.models.counting.number_words import plural
from ovperception.models.vocabulary_free.candidate_words import candidate_words
from ovperception.utils.inflect_engine import inflect_engine


def test_counting_and_vocabulary_free_share_one_engine(monkeypatch):
    engine = inflect_engine()
    assert inflect_engine() is engine
    asked = []
    monkeypatch.setattr(engine, 'plural_noun', lambda word: asked.append(word) or word + 'z')
    monkeypatch.setattr(engine, 'singular_noun',
                        lambda word: asked.append(word) or (word[:-1] if word == 'cats' else False))
    assert plural('dog') == 'dogz'
    assert candidate_words(['two cats', 'cats here'], None, min_count=1) == ['two', 'cat', 'here']
    assert asked[:2] == ['dog', 'dog'] and 'cats' in asked


def test_importing_the_models_does_not_import_inflect():
    """Nor does building CLIP-EBC's head (its template check uses a fixed plural): inflect
    (about 1.5 s to import) comes with the first plural."""
    code = ('import sys, ovperception.models.counting.number_words, '
            'ovperception.models.vocabulary_free.candidate_words; '
            'from ovperception.models.counting.blockwise_head import BlockwiseCountingHead; '
            'BlockwiseCountingHead(8); '
            'assert "inflect" not in sys.modules, "inflect imported"; '
            'from ovperception.models.counting.number_words import plural; plural("dog"); '
            'assert "inflect" in sys.modules')
    subprocess.run([sys.executable, '-c', code], check=True)
