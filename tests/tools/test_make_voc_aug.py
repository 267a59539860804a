"""tools/make_voc_aug.py and ``PascalVOCAugDataset`` on a synthetic VOC 2012 + SBD tree."""
from __future__ import annotations

import os
import shutil

import numpy as np
from scipy.io import savemat

from ovperception.datasets import PascalVOCAugDataset
from ovperception.datasets.voc_aug import sbd_label, train_aug_ids
from ovperception.utils.image_io import load_label_map
from tests.scripts import load_script
from tests.voc_layout import label_for, write_voc_layout

make_voc_aug = load_script('tools/make_voc_aug.py')


def _sbd(root: str, train: list[str], val: list[str]) -> str:
    """``benchmark_RELEASE/dataset`` with train/val lists and cls/*.mat (GTcls struct)."""
    sbd = os.path.join(root, 'benchmark_RELEASE', 'dataset')
    os.makedirs(os.path.join(sbd, 'cls'))
    for name, ids in (('train', train), ('val', val)):
        with open(os.path.join(sbd, f'{name}.txt'), 'w') as handle:
            handle.write(''.join(f'{i}\n' for i in ids))
    for index, image_id in enumerate(train + val):
        segmentation = np.full((40, 56), 7 + index, np.uint8)
        segmentation[:5] = 0
        savemat(os.path.join(sbd, 'cls', f'{image_id}.mat'),
                {'GTcls': {'Segmentation': segmentation, 'CategoriesPresent': [7 + index]}})
    return sbd


def test_train_aug_is_voc_train_plus_sbd_minus_voc_val(tmp_path) -> None:
    voc = write_voc_layout(str(tmp_path), extra_aug=())
    shutil.rmtree(os.path.join(voc, 'SegmentationClassAug'))
    # SBD holds a VOC val image (excluded), a VOC train image and two new ones
    sbd = _sbd(str(tmp_path), ['2007_000033', '2010_000005'], ['2007_000032', '2010_000001'])
    assert train_aug_ids(voc, sbd) == ['2007_000032', '2007_000039', '2008_000002',
                                       '2010_000001', '2010_000005']
    assert make_voc_aug.main([voc, sbd]) == 0
    with open(os.path.join(voc, 'ImageSets', 'Segmentation', 'train_aug.txt')) as handle:
        assert handle.read().split() == train_aug_ids(voc, sbd)
    aug = os.path.join(voc, 'SegmentationClassAug')
    # VOC's own mask wins (with its 255 boundaries); SBD's for the new images
    np.testing.assert_array_equal(load_label_map(os.path.join(aug, '2007_000033.png')),
                                  label_for(3, (40, 56)))
    new = load_label_map(os.path.join(aug, '2010_000005.png'))
    np.testing.assert_array_equal(new, sbd_label(os.path.join(sbd, 'cls', '2010_000005.mat')))
    assert set(np.unique(new)) == {0, 8}
    assert len(os.listdir(aug)) == 7  # VOC trainval (5) + the two new SBD images
    dataset = PascalVOCAugDataset(data_root=voc, classnames_file='excel/voc21')
    assert len(dataset) == 5 and dataset[4]['seg_map_path'].endswith(
        os.path.join('SegmentationClassAug', '2010_000005.png'))


def test_missing_sbd_is_a_one_line_error(tmp_path, capsys) -> None:
    voc = write_voc_layout(str(tmp_path))
    assert make_voc_aug.main([voc, str(tmp_path / 'nowhere')]) == 1
    assert 'missing' in capsys.readouterr().err


def test_a_bad_sbd_file_is_a_one_line_error(tmp_path, capsys) -> None:
    voc = write_voc_layout(str(tmp_path), extra_aug=())
    sbd = _sbd(str(tmp_path), ['2010_000005'], [])
    savemat(os.path.join(sbd, 'cls', '2010_000005.mat'), {'other': np.zeros(3)})
    assert make_voc_aug.main([voc, sbd]) == 1
    assert 'not an SBD cls file' in capsys.readouterr().err
