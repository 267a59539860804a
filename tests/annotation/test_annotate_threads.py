"""Datasets do not depend on the torch thread count (issue #23, item 8): scores differ
in about the 7th digit between thread counts; they are rounded to ``SCORE_DECIMALS``
(boxes to ``BOX_DECIMALS``), so 1 and 2 threads write byte-equal datasets."""
from __future__ import annotations

import torch

from tests.annotation.inputs import SEG_TINY, annotate_args, make_inputs
from tests.annotation.test_annotate_distributed import dataset_files
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')


def test_one_and_two_threads_write_byte_equal_datasets(tmp_path):
    images = tuple(f'{d}/im{i}.png' for d in ('a', 'b') for i in range(3))
    source = make_inputs(str(tmp_path / 'in'), images=images, broken=False, video=False,
                         size=(96, 128))
    threads = torch.get_num_threads()
    outputs = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            out = str(tmp_path / f'threads{count}')
            argv = annotate_args(source, out, '--config', SEG_TINY.replace('seg_', 'det_'))
            del argv[argv.index('--min-area'):argv.index('--min-area') + 2]
            assert annotate.main(argv) == 0
            outputs.append(dataset_files(out))
    finally:
        torch.set_num_threads(threads)
    one, two = outputs
    assert sorted(one) == sorted(two)
    assert b'"score"' in one['coco/annotations.json']  # the detector gives scores
    differing = [name for name in one if one[name] != two[name]]
    assert not differing, differing
