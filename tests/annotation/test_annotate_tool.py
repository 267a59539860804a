"""tools/annotate.py end to end: a folder with colliding names, a broken file and a video
annotates into all five formats, each read back; reruns resume; bad input fails early."""
from __future__ import annotations

import filecmp
import os
import signal

import cv2
import pytest

from ovperception.engine.runner_cli import run_cli
from tests.annotation.checks import CHECKS
from tests.annotation.inputs import (CLASSES, VIDEO_FPS, annotate_args, make_inputs,
                                     stored_results, summary)
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')


@pytest.fixture(scope='module')
def annotated(tmp_path_factory):
    root = tmp_path_factory.mktemp('annotate')
    source = make_inputs(str(root / 'in'))
    out = str(root / 'out')
    status = annotate.main(annotate_args(source, out, '--frame-stride', '2', '--overlays'))
    return source, out, status


def dataset_order(out: str) -> tuple[list, list]:
    """Stored records and objects in dataset order: the folder's walk (its own files, then
    its sub-folders, each sorted), a video's frames in frame order."""
    stored = stored_results(out)
    frames = sorted(n for n in stored if n.startswith('clip.mp4/'))
    order = frames + ['a/x.jpg', 'a/x.png', 'b/x.jpg']
    assert sorted(order) == sorted(stored)
    return [stored[n][0] for n in order], [stored[n][1] for n in order]


def test_all_formats_read_back_equal_the_predictions(annotated):
    _, out, status = annotated
    records, objects = dataset_order(out)
    assert sum(len(o) for o in objects) > 0
    for name, check in CHECKS.items():
        check(out, records, objects, CLASSES)


def test_colliding_names_broken_file_and_summary(annotated):
    source, out, status = annotated
    assert status == 3  # partial success: one input could not be read
    info = summary(out)
    assert info['status'] == 'partial'
    assert [f['name'] for f in info['failed']] == ['broken.jpg']
    assert 'not a recognised image format' in info['failed'][0]['error']
    assert info['images'] == 6 and info['inputs'] == 5
    flat = sorted(os.listdir(os.path.join(out, 'yolo', 'detect', 'labels')))
    assert flat == ['a__x_jpg.txt', 'a__x_png.txt', 'b__x.txt', 'clip__000000.txt',
                    'clip__000002.txt', 'clip__000004.txt']
    for name in ('a/x.jpg', 'a/x.png', 'b/x.jpg'):
        assert os.path.isfile(os.path.join(out, 'overlays', name + '.png'))


def test_video_frames_carry_index_and_timestamp(annotated):
    _, out, _ = annotated
    records, _ = dataset_order(out)
    frames = [r for r in records if r.frame_index is not None]
    assert [r.frame_index for r in frames] == [0, 2, 4]
    assert [r.timestamp for r in frames] == [i / VIDEO_FPS for i in (0, 2, 4)]
    capture = cv2.VideoCapture(os.path.join(out, 'videos', 'clip.mp4.overlay.mp4'))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_rerun_skips_finished_inputs(annotated, tmp_path):
    source, out, _ = annotated
    before = tmp_path / 'coco.json'
    before.write_bytes(open(os.path.join(out, 'coco', 'annotations.json'), 'rb').read())
    assert annotate.main(annotate_args(source, out, '--frame-stride', '2', '--overlays')) == 3
    info = summary(out)
    assert info['annotated_now'] == 0 and info['reused'] == 4  # 3 images + the video
    assert filecmp.cmp(before, os.path.join(out, 'coco', 'annotations.json'), shallow=False)
    # a changed input is annotated again; the others are still reused
    image = cv2.imread(os.path.join(source, 'b', 'x.jpg'))
    cv2.imwrite(os.path.join(source, 'b', 'x.jpg'), 255 - image)
    assert annotate.main(annotate_args(source, out, '--frame-stride', '2', '--overlays')) == 3
    info = summary(out)
    assert info['annotated_now'] == 1 and info['reused'] == 3 and info['images'] == 6
    # an input removed: its labels leave every dataset; a/x.jpg keeps its recorded name
    os.unlink(os.path.join(source, 'a', 'x.png'))
    assert annotate.main(annotate_args(source, out, '--frame-stride', '2')) == 3
    assert summary(out)['annotated_now'] == 0
    labels = sorted(os.listdir(os.path.join(out, 'yolo', 'detect', 'labels')))
    assert labels[:2] == ['a__x_jpg.txt', 'b__x.txt'] and len(labels) == 5
    assert sorted(os.listdir(os.path.join(out, 'voc', 'Annotations')))[:2] == \
        ['a__x_jpg.xml', 'b__x.xml']
    assert not [n for n in os.listdir(out) if n.endswith(('.staging', '.old'))]


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_finishes_the_input_in_flight_then_exits_130(tmp_path, monkeypatch,
                                                                      capsys, signum):
    """The signal arrives while the second image is predicted: that image is finished and
    stored, the third is not started; exit 130 (issue #23, item 7)."""
    source = make_inputs(str(tmp_path / 'in'), broken=False, video=False)
    from ovperception.annotation import job

    calls = []
    original = job.ShardAnnotator._predict

    def interrupted(self, image, *name):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)  # a real Ctrl-C / kill in the middle of the run
        return original(self, image, *name)

    monkeypatch.setattr(job.ShardAnnotator, '_predict', interrupted)
    capsys.readouterr()
    assert annotate.main(annotate_args(source, str(tmp_path / 'out'))) == 130
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 2 and 'stopping after the input in flight' in err[0]
    assert err[1].startswith('interrupted')
    assert len(calls) == 2 and len(stored_results(str(tmp_path / 'out'))) == 2


@pytest.mark.parametrize('change, message', [
    (dict(vocab=' , '), 'holds no class'),
    (dict(formats='coco,tfrecord'), 'unknown dataset format'),
    (dict(out='IN/sub'), 'inside the input folder'),
    (dict(source='MISSING'), 'neither an image'),
    (dict(task='det'), 'does not fit'),
    (dict(frame_stride='0'), 'frame-stride'),
])
def test_bad_input_fails_in_one_line_before_the_model(tmp_path, monkeypatch, capsys, change,
                                                      message):
    from ovperception.annotation import run
    monkeypatch.setattr(run, 'build_predictor', lambda *a, **k: pytest.fail('model built'))
    source = make_inputs(str(tmp_path / 'in'), broken=False, video=False)
    values = dict(source=source, vocab='cat, dog', out=str(tmp_path / 'out'), formats=None,
                  task=None, frame_stride=None)
    values.update({k: v.replace('IN', source).replace('MISSING', str(tmp_path / 'nope'))
                   for k, v in change.items()})
    argv = [values['source'], '--vocab', values['vocab'], '--out', values['out'],
            '--config', annotate_args('', '')[6], '--device', 'cpu']
    for flag in ('formats', 'task', 'frame_stride'):
        if values[flag] is not None:
            argv += ['--' + flag.replace('_', '-').replace('formats', 'format'), values[flag]]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: annotate.main(argv))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize('config, task, vocab', [
    ('det_tiny.py', 'det', 'cat, dog'),
    ('fcclip_tiny.py', 'panoptic', 'cat, dog'),
    ('count_tiny_zeroshot.py', 'count', 'cat'),
    ('anomaly_tiny_winclip.py', 'anomaly', 'screw'),
    ('anomaly_tiny_adaclip.py', 'anomaly', 'screw'),
])
def test_every_task_annotates_into_every_format(tmp_path, config, task, vocab):
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png',), broken=False, video=False)
    out = str(tmp_path / 'out')
    argv = annotate_args(source, out, '--task', task)
    if task not in ('seg', 'anomaly'):  # --min-area does not apply (refused)
        del argv[argv.index('--min-area'):argv.index('--min-area') + 2]
    argv[argv.index('--vocab') + 1] = vocab
    argv[argv.index('--config') + 1] = os.path.join(os.path.dirname(argv[argv.index(
        '--config') + 1]), config)
    extra = ['--anomaly-threshold', '0.0'] if task == 'anomaly' else []
    assert annotate.main(argv + extra) == 0
    (record, objects), = stored_results(out).values()
    classes = [v.strip().split(';')[0] for v in vocab.split(',')]
    if task == 'anomaly':
        assert record.extra['verdict'] == 'anomalous' and objects  # threshold 0: all anomalous
    for check in CHECKS.values():
        check(out, [record], [objects], classes)


def test_webcam_source(tmp_path, monkeypatch):
    from tests.annotation.test_sources import FakeCamera
    monkeypatch.setattr(cv2, 'VideoCapture', FakeCamera)
    out = str(tmp_path / 'out')
    assert annotate.main(annotate_args('0', out, '--max-frames', '2', '--format', 'coco')) == 0
    assert sorted(stored_results(out)) == ['webcam0/000000.png', 'webcam0/000001.png']
    assert os.path.isfile(os.path.join(out, 'videos', 'webcam0.overlay.mp4'))


def test_min_area_1_regions_read_back_in_every_format(tmp_path):
    """``--min-area 1`` on noise keeps 1-9 px regions: pycocotools decodes every polygon
    and YOLO-seg keeps every object (issue #23, item 1)."""
    source = make_inputs(str(tmp_path / 'in'), images=('n.png',), broken=False, video=False,
                         size=(96, 128))
    out = str(tmp_path / 'out')
    classes = list('abcdefgh')
    argv = annotate_args(source, out)
    argv[argv.index('--min-area') + 1] = '1'
    argv[argv.index('--vocab') + 1] = ', '.join(classes)
    assert annotate.main(argv) == 0
    (record, objects), = stored_results(out).values()
    assert sum(o.mask.sum() < 10 for o in objects) >= 3, 'the noise gave no tiny region'
    for check in CHECKS.values():
        check(out, [record], [objects], classes)


def test_flat_names_never_collide_and_are_kept_on_rerun(tmp_path):
    """A video beside an image named like its first frame, ``y.jpg`` / ``y.JPG`` /
    ``y_jpg_1.png``: every image has its own YOLO label and VOC files; a rerun after a
    removal names every input as before (issue #23, item 2)."""
    images = ('clip__000000.png', 'c/y.jpg', 'c/y.JPG', 'c/y_jpg_1.png')
    source = make_inputs(str(tmp_path / 'in'), images=images, broken=False, video=True)
    out = str(tmp_path / 'out')
    args = annotate_args(source, out, '--frame-stride', '3', '--format', 'yolo,voc')
    assert annotate.main(args) == 0
    stored = stored_results(out)
    stems = sorted(record.flat_stem.casefold() for record, _ in stored.values())
    assert len(stems) == len(set(stems)) == len(images) + 2  # frames 0 and 3
    labels = os.listdir(os.path.join(out, 'yolo', 'detect', 'labels'))
    assert len({n.casefold() for n in labels}) == len(stems)
    listed = open(os.path.join(out, 'voc', 'ImageSets', 'Main', 'default.txt')).read().split()
    assert sorted(s.casefold() for s in listed) == stems
    records, objects = zip(*stored.values())
    CHECKS['voc'](out, records, objects, CLASSES)
    CHECKS['yolo'](out, records, objects, CLASSES)
    before = {record.name: record.flat_stem for record in records}
    os.unlink(os.path.join(source, 'c', 'y.JPG'))
    assert annotate.main(args) == 0
    after = {r.flat_stem for r, _ in stored_results(out).values()}
    listed = open(os.path.join(out, 'voc', 'ImageSets', 'Main', 'default.txt')).read().split()
    assert sorted(listed) == sorted(before[n] for n in before if n != 'c/y.JPG')
    assert after >= set(listed)


def test_copy_images_and_label_studio_image_root(tmp_path):
    """--copy-images: YOLO / VOC hold copies (the folders can move); --image-root /
    --image-base: Label Studio tasks name URLs it can open (issue #23, item 11)."""
    from urllib.parse import quote
    source = make_inputs(str(tmp_path / 'in'), images=('a/x y.png',), broken=False,
                         video=True)
    out = str(tmp_path / 'out')
    prefix = '/data/local-files/?d='
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3', '--copy-images',
                                       '--image-root', prefix, '--image-base',
                                       str(tmp_path))) == 0
    assert summary(out)['image_files'] == 'copies'
    for folder in ('yolo/detect/images', 'yolo/segment/images', 'voc/JPEGImages'):
        names = os.listdir(os.path.join(out, folder))
        assert len(names) == 3 and not any(
            os.path.islink(os.path.join(out, folder, n)) for n in names)
    with open(os.path.join(source, 'a', 'x y.png'), 'rb') as handle:
        original = handle.read()
    with open(os.path.join(out, 'voc', 'JPEGImages', 'a__x y.png'), 'rb') as handle:
        assert handle.read() == original
    stored = stored_results(out)
    records = [stored[n][0] for n in sorted(stored)]
    objects = [stored[n][1] for n in sorted(stored)]
    order = sorted(range(len(records)), key=lambda i: (records[i].frame_index is None,
                                                       records[i].name))
    records, objects = [records[i] for i in order], [objects[i] for i in order]
    CHECKS['labelstudio'](out, records, objects, CLASSES, image_url=lambda r: prefix + quote(
        os.path.relpath(r.image_path, str(tmp_path))))
    CHECKS['yolo'](out, records, objects, CLASSES)
    CHECKS['voc'](out, records, objects, CLASSES)
    with pytest.raises(ValueError, match='outside --image-base'):
        annotate.main(annotate_args(source, out, '--image-root', prefix, '--image-base',
                                    os.path.join(str(tmp_path), 'in')))  # frames lie in OUT
