"""Output-writer registry: dispatch by field, suffix clashes, input protection."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.structures import OVDataSample
from ovperception.utils.atomic import OverwriteInputError
from ovperception.writers import OUTPUT_WRITERS, register_writer, write_predictions


def _seg_sample() -> OVDataSample:
    sample = OVDataSample(metainfo=dict(label_names=['a', 'b']))
    sample.pred_sem_seg = PixelData(data=torch.tensor([[[0, 1], [1, 1]]]))
    return sample


def test_segmentation_writer_runs_for_pred_sem_seg(tmp_path):
    image = np.zeros((2, 2, 3), np.uint8)
    written = write_predictions(str(tmp_path / 'in' / 'x.png'), image, _seg_sample(),
                                str(tmp_path), [])
    assert sorted(p.rsplit('/', 1)[1] for p in written) == ['x.json', 'x_labels.png',
                                                            'x_overlay.png']
    assert all((tmp_path / p.rsplit('/', 1)[1]).exists() for p in written)


def test_segmentation_writer_counts_the_label_map_once(tmp_path, monkeypatch):
    """The overlay's legend and the JSON's areas share one count of the map (it was counted
    twice), and say the same as counting it afresh."""
    import json

    from ovperception.utils import annotations, band_rle
    from ovperception.visualization import overlay
    from ovperception.writers import segmentation
    calls = []

    def counting(labels, band_values=None):
        calls.append(labels.shape)
        return band_rle.label_counts(labels, band_values)

    for module in (overlay, annotations, segmentation):
        monkeypatch.setattr(module, 'label_counts', counting)
    sample = OVDataSample(metainfo=dict(label_names=['a', 'b', 'c']))
    labels = torch.tensor([[[0, 1, 1], [255, 1, 2]]])
    sample.pred_sem_seg = PixelData(data=labels)
    write_predictions(str(tmp_path / 'x.png'), np.zeros((2, 3, 3), np.uint8), sample,
                      str(tmp_path / 'out'), [])
    assert calls == [(2, 3)]
    written = json.loads((tmp_path / 'out' / 'x.json').read_text())
    assert [(a['name'], a['area']) for a in written['annotations']] == [
        ('a', 1), ('b', 3), ('c', 1)]
    assert written['unlabelled_area'] == 1
    fresh = overlay.draw_sem_seg(np.zeros((2, 3, 3), np.uint8), labels[0].numpy(),
                                 ['a', 'b', 'c'])
    calls.clear()
    given = overlay.draw_sem_seg(np.zeros((2, 3, 3), np.uint8), labels[0].numpy(),
                                 ['a', 'b', 'c'], counts={0: 1, 1: 3, 2: 1, 255: 1})
    assert calls == [] and np.array_equal(fresh, given)


def test_sample_without_known_field_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='none of the fields'):
        write_predictions('x.png', np.zeros((2, 2, 3), np.uint8), OVDataSample(),
                          str(tmp_path), [])


def test_input_is_never_overwritten_and_nothing_is_written(tmp_path):
    source = tmp_path / 'x.json'
    source.write_text('keep')
    with pytest.raises(OverwriteInputError):
        write_predictions(str(source), np.zeros((2, 2, 3), np.uint8), _seg_sample(),
                          str(tmp_path), [str(source)])
    assert source.read_text() == 'keep'
    assert not (tmp_path / 'x_overlay.png').exists()


def test_duplicate_field_or_suffix_is_refused():
    with pytest.raises(KeyError):
        register_writer('pred_sem_seg', ('_other.png',))(lambda *a: None)
    with pytest.raises(KeyError, match='suffixes'):
        register_writer('pred_unused_field', ('.json',))(lambda *a: None)
    assert 'pred_unused_field' not in OUTPUT_WRITERS


def test_deferred_sync_writes_atomically_with_one_sync(tmp_path, monkeypatch):
    """Inside ``deferred_sync`` files are still whole (temporary file + rename) but not
    fsynced one by one; one ``os.sync`` at the end (issue #23: a dataset of 300 tiny
    images spent 22 of 27 s in fsync)."""
    import os

    from ovperception.utils import atomic
    calls = {'fsync': 0, 'sync': 0}
    monkeypatch.setattr(atomic.os, 'fsync', lambda fd: calls.__setitem__(
        'fsync', calls['fsync'] + 1))
    monkeypatch.setattr(atomic.os, 'sync', lambda: calls.__setitem__('sync', calls['sync'] + 1))
    with atomic.deferred_sync():
        for index in range(5):
            atomic.atomic_write_bytes(tmp_path / f'{index}.txt', b'x' * index)
    assert calls == {'fsync': 0, 'sync': 1}
    assert [os.path.getsize(tmp_path / f'{i}.txt') for i in range(5)] == list(range(5))
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    atomic.atomic_write_bytes(tmp_path / 'after.txt', b'y')
    assert calls['fsync'] == 2  # file and folder again outside the block
