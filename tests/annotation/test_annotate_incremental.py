"""Dataset writing in O(new inputs) (issue #23, item 5): with one new image among
finished ones, a rerun computes the outputs of that image only -- per-image files (YOLO
labels, VOC XML and PNGs) of the others are hard-linked from the dataset being replaced
(same inode, same mtime), whole-file formats (COCO, Label Studio, CVAT) are assembled
from stored per-record fragments -- and gives datasets equal to a fresh run."""
from __future__ import annotations

import os

import cv2
import numpy as np

from tests.annotation.inputs import annotate_args, make_inputs, summary
from tests.annotation.test_annotate_distributed import dataset_files
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')


def per_image_files(out: str) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every YOLO / VOC file of a record (not the list files)."""
    files = {}
    for fmt in ('yolo', 'voc'):
        for root, _, names in os.walk(os.path.join(out, fmt)):
            for name in names:
                path = os.path.join(root, name)
                if name not in ('data.yaml', 'default.txt', 'labels.txt'):
                    stat = os.lstat(path)
                    files[os.path.relpath(path, out)] = (stat.st_ino, stat.st_mtime_ns)
    return files


def test_one_new_image_computes_only_its_outputs(tmp_path, monkeypatch):
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png', 'b/y.png'), broken=False,
                         video=True)
    out = str(tmp_path / 'out')
    argv = annotate_args(source, out, '--frame-stride', '3')
    assert annotate.main(argv) == 0
    before = per_image_files(out)
    assert len(before) > 10
    image = np.full((48, 64, 3), 40, np.uint8)
    cv2.rectangle(image, (4, 4), (40, 30), (250, 30, 30), -1)
    os.makedirs(os.path.join(source, 'c'))
    cv2.imwrite(os.path.join(source, 'c', 'z.png'), image)

    from ovperception.annotation.formats import coco, cvat, labelstudio, voc, yolo
    computed: dict[str, list[str]] = {}

    def spy(module, function: str, fmt: str, record_of) -> None:
        real = getattr(module, function)

        def wrapper(*args, **kwargs):
            computed.setdefault(fmt, []).append(record_of(*args))
            return real(*args, **kwargs)
        monkeypatch.setattr(module, function, wrapper)

    spy(coco, 'coco_part', 'coco', lambda record, objs: record.name)
    spy(labelstudio, 'labelstudio_task', 'labelstudio', lambda record, *a: record.name)
    spy(cvat, 'cvat_part', 'cvat', lambda objs, names: len(objs))
    spy(voc, 'voc_xml', 'voc', lambda record, *a: record.name)
    spy(yolo, 'link_image', 'yolo', lambda image, target, copy: os.path.basename(target))
    assert annotate.main(argv) == 0
    info = summary(out)
    assert info['annotated_now'] == 1 and len(info['datasets_rewritten']) == 5
    assert computed['coco'] == ['c/z.png'] and computed['labelstudio'] == ['c/z.png']
    assert computed['voc'] == ['c/z.png'] and len(computed['cvat']) == 1
    assert computed['yolo'] == ['c__z.png', 'c__z.png']  # detect/ and segment/
    after = per_image_files(out)
    assert {k: v for k, v in after.items() if k in before} == before  # not rewritten
    new = sorted(set(after) - set(before))
    assert new and all('c__z' in name for name in new), new

    monkeypatch.undo()
    fresh = str(tmp_path / 'fresh')
    assert annotate.main(annotate_args(source, fresh, '--frame-stride', '3')) == 0
    incremental, expected = dataset_files(out), dataset_files(fresh)  # OUT for the folder
    assert sorted(incremental) == sorted(expected)
    assert [name for name in expected if incremental[name] != expected[name]] == []
