from __future__ import annotations

import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.segmentation import AdaptedSimilarityHead, DenseSimilarityHead
from ovperception.structures import OVDataSample


def _text(classnames, background_words=(), dim=4):
    vocab = Vocabulary.parse(classnames, background_words)
    embeddings = torch.eye(dim)[:len(vocab.names)]
    return TextEmbeddings(vocab, embeddings, torch.tensor(vocab.name_to_class), 100.0)


def _orthogonal_features(label_map, dim=4):
    """(1, dim, H, W) features equal to the one-hot of ``label_map``."""
    return torch.nn.functional.one_hot(label_map, dim).permute(2, 0, 1)[None].float()


def test_orthogonal_features_give_the_exact_label_map():
    labels = torch.tensor([[0, 1, 2], [2, 1, 0]])
    text = _text(['a', 'b', 'c'])
    head = DenseSimilarityHead()
    cosine = head(_orthogonal_features(labels), text)
    sample = OVDataSample(metainfo=dict(ori_shape=(2, 3)))
    head.predict([cosine[0]], text, [sample])
    assert torch.equal(sample.pred_sem_seg.data[0], labels)
    assert sample.metainfo['label_names'] == ['a', 'b', 'c']


def test_synonyms_vote_for_their_class():
    labels = torch.tensor([[1, 2]])  # names: 0 'cat', 1 'kitten' (class 0), 2 'dog' (class 1)
    text = _text(['cat; kitten', 'dog'])
    head = DenseSimilarityHead()
    sample = OVDataSample(metainfo=dict(ori_shape=(1, 2)))
    head.predict([head(_orthogonal_features(labels), text)[0]], text, [sample])
    assert sample.pred_sem_seg.data.tolist() == [[[0, 1]]]


def test_probability_threshold_and_background_index():
    features = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]).T.reshape(1, 3, 1, 2)
    text = _text(['bg', 'a', 'b'], dim=3)
    head = DenseSimilarityHead(logit_scale=10.0, prob_threshold=0.9, background_index=0)
    cosine = head(features, text)[0]
    probs = torch.softmax(cosine * 10.0, dim=0)
    assert probs[:, 0, 0].max() > 0.9 > probs[:, 0, 1].max()
    sample = OVDataSample(metainfo=dict(ori_shape=(1, 2)))
    head.predict([cosine], text, [sample])
    assert sample.pred_sem_seg.data.tolist() == [[[0, 0]]]
    unlabeled = DenseSimilarityHead(logit_scale=10.0, prob_threshold=0.9)
    unlabeled.predict([cosine], text, [sample])
    assert sample.pred_sem_seg.data.tolist() == [[[0, 255]]]


def test_virtual_background_words_map_to_unlabelled():
    labels = torch.tensor([[0, 2, 1]])  # name 2 is the background word 'sky'
    text = _text(['cat', 'dog'], background_words=['sky'])
    head = DenseSimilarityHead()
    sample = OVDataSample(metainfo=dict(ori_shape=(1, 3)))
    head.predict([head(_orthogonal_features(labels), text)[0]], text, [sample])
    assert sample.pred_sem_seg.data.tolist() == [[[0, 255, 1]]]


def test_area_threshold_matches_naive_rule():
    torch.manual_seed(3)
    cosine = torch.randn(4, 10, 10)
    cosine[3] -= 2.0  # class 3 only wins a few pixels
    text = _text(['bg', 'a', 'b', 'c'])
    head = DenseSimilarityHead(logit_scale=10.0, area_threshold=0.1, background_index=0)
    got = head.labels_from_cosine(cosine, text, (10, 10))
    probs = torch.softmax(cosine * 10.0, dim=0)
    argmax = probs.argmax(0)
    areas = torch.tensor([(argmax == c).sum() for c in range(4)]).float()
    areas[0] = 0
    keep = areas > 0.1 * areas.sum()
    keep[0] = True
    naive = (probs * keep[:, None, None]).argmax(0)
    assert not bool(keep.all()), 'the case must exercise suppression'
    assert torch.equal(got, naive)


def test_background_index_out_of_range():
    head = DenseSimilarityHead(background_index=5)
    with pytest.raises(ValueError, match='background_index'):
        head.labels_from_cosine(torch.zeros(2, 2, 2), _text(['a', 'b']), (2, 2))


def test_adapted_head_starts_as_identity_and_learns():
    torch.manual_seed(0)
    text = _text(['a', 'b', 'c', 'd'])
    dense, adapted = DenseSimilarityHead(), AdaptedSimilarityHead(4, hidden_channels=8)
    features = torch.randn(2, 4, 6, 6)
    assert torch.allclose(dense(features, text), adapted(features, text))
    target = torch.randint(0, 4, (2, 6, 6))
    samples = [OVDataSample(gt_sem_seg=PixelData(data=t[None])) for t in target]
    optimizer = torch.optim.Adam(adapted.parameters(), lr=0.05)
    first = adapted.loss(features, text, samples)['loss_seg']
    for _ in range(30):
        optimizer.zero_grad()
        loss = adapted.loss(features, text, samples)['loss_seg']
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first.item()
