from __future__ import annotations

import torch

from ovperception.models.clip.prompts import IMAGENET80_TEMPLATES, get_templates
from ovperception.models.clip.text_cache import TextEmbeddingCache
from tests.toy_models import ToyBackbone


def test_prompt_ensemble_formula():
    backbone = ToyBackbone()
    cache = TextEmbeddingCache(backbone.encode_text, 'toy:v1', ['a {}.', 'the {} here'])
    got = cache.embed(['cat'])[0]
    raw = backbone.encode_text(['a cat.', 'the cat here'])
    expected = raw.mean(0) / raw.mean(0).norm()
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.isclose(got.norm(), torch.tensor(1.0))


def test_each_name_is_encoded_once():
    backbone = ToyBackbone()
    cache = TextEmbeddingCache(backbone.encode_text, 'toy:v1', 'imagenet80')
    first = cache.embed(['cat', 'dog', 'cat'])
    second = cache.embed(['dog', 'bird'])
    assert cache.num_encoded_names == 3
    assert sum(len(c) for c in backbone.text_calls) == 3 * len(IMAGENET80_TEMPLATES)
    assert torch.equal(first[1], second[0])


def test_disk_cache_round_trip(tmp_path):
    backbone = ToyBackbone()
    cache = TextEmbeddingCache(backbone.encode_text, 'toy:v1', 'single', cache_dir=str(tmp_path))
    stored = cache.embed(['cat', 'dog'])
    assert cache.disk_path is not None and len(list(tmp_path.iterdir())) == 1
    fresh_backbone = ToyBackbone()
    fresh = TextEmbeddingCache(fresh_backbone.encode_text, 'toy:v1', 'single',
                               cache_dir=str(tmp_path))
    assert torch.equal(fresh.embed(['cat', 'dog']), stored)
    assert fresh_backbone.text_calls == [] and fresh.num_encoded_names == 0
    other_templates = TextEmbeddingCache(fresh_backbone.encode_text, 'toy:v1', 'vild14',
                                         cache_dir=str(tmp_path))
    other_templates.embed(['cat'])
    assert other_templates.num_encoded_names == 1


def test_random_weights_are_never_cached_on_disk(tmp_path):
    cache = TextEmbeddingCache(ToyBackbone().encode_text, 'toy:random:123', 'single',
                               cache_dir=str(tmp_path))
    cache.embed(['cat'])
    assert cache.disk_path is None and list(tmp_path.iterdir()) == []


def test_corrupt_disk_cache_is_rebuilt(tmp_path):
    backbone = ToyBackbone()
    cache = TextEmbeddingCache(backbone.encode_text, 'toy:v1', 'single', cache_dir=str(tmp_path))
    open(cache.disk_path, 'wb').write(b'not a torch file')
    assert cache.embed(['cat']).shape == (1, 8)
    assert get_templates('single') == ('a photo of a {}.',)


def test_template_set_errors_are_clear():
    import pytest

    from ovperception.models.clip.prompts import register_template_set
    with pytest.raises(ValueError, match='unknown template set'):
        get_templates('imagenet81')
    with pytest.raises(ValueError, match='exactly one'):
        get_templates(['a photo of {} and {}'])
    with pytest.raises(ValueError, match='already exists'):
        register_template_set('single', ['{}'])
    assert len(get_templates('vild14')) == 14
