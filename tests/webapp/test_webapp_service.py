"""The web app's service without a server: every task, vocabulary-only reruns, clicks, SAM,
errors as one-line messages, sessions that clean up after themselves."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from ovperception.webapp import AnnotationService, AppSession, UserError
from ovperception.webapp.tasks import (CONFIG_ROOT, TASKS, configs_for_task, default_configs,
                                       task_of_config)

SHAPES = 'demo/examples/shapes.png'
TINY = os.path.join(CONFIG_ROOT, 'tiny', 'seg_tiny.py')
VOCABULARIES = {'semantic': 'red square, green circle', 'panoptic': 'red square, green circle',
                'detection': 'red square, green circle', 'counting': 'red square',
                'anomaly': 'screw'}


@pytest.fixture(scope='module')
def service() -> AnnotationService:
    return AnnotationService(default_configs(TINY), sam_model='tiny')


@pytest.fixture
def session(tmp_path) -> AppSession:
    created = AppSession.create(str(tmp_path))
    yield created
    created.close()


def test_a_tiny_config_makes_every_task_start_tiny_and_configs_map_to_tasks():
    defaults = default_configs(TINY)
    assert all('/tiny/' in path for path in defaults.values())
    assert default_configs(None)['semantic'].endswith('segmentation/sclip_vitb16_ade20k_336.py')
    for task, path in defaults.items():
        assert task_of_config(path) == task
        assert os.path.relpath(path, CONFIG_ROOT) in configs_for_task(task)
    assert not any(path.endswith('_train.py') for t in TASKS for path in configs_for_task(t))
    with pytest.raises(FileNotFoundError):
        task_of_config('no/such/config.py')


@pytest.mark.parametrize('task', list(TASKS))
def test_every_task_runs_and_writes_its_downloads(service, session, task):
    result = service.run(session, SHAPES, VOCABULARIES[task], task)
    assert os.path.isfile(result.overlay) and result.overlay in result.files
    overlay = np.asarray(Image.open(result.overlay))
    assert overlay.ndim == 3 and overlay.shape[0] >= 128
    assert all(os.path.isfile(path) for path in result.files)
    assert os.path.commonpath([result.overlay, session.folder]) == session.folder
    bundle = next(path for path in result.files if path.endswith('.zip'))
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    assert {os.path.basename(path) for path in result.files if path != bundle} <= names
    assert {'datasets/coco/annotations.json', 'datasets/images/shapes.png'} <= names
    for path in result.files:
        if path.endswith('.json'):
            json.load(open(path))
    if task in ('semantic', 'counting', 'anomaly'):
        assert result.rows, result.message
    assert TASKS[task].label in result.message
    assert isinstance(service.inspect(session, 5, 5), str)


def test_a_new_vocabulary_on_the_same_image_is_not_encoded_again(service, session):
    first = service.run(session, SHAPES, 'red square, green circle', 'semantic')
    second = service.run(session, SHAPES, 'blue triangle', 'semantic')
    assert session.encode_count == 1
    assert 'reused' in second.message and 'encoded' in first.message
    assert [row[0] for row in second.rows if row[0] != '(unlabelled)'] == ['blue triangle']


def test_semantic_rows_are_the_label_map_areas(service, session):
    result = service.run(session, SHAPES, 'red square, green circle, blue triangle', 'semantic')
    labels = session.last.sample.pred_sem_seg.data[0].numpy()
    areas = {row[0]: float(row[1].rstrip(' %')) for row in result.rows}
    for index, name in enumerate(['red square', 'green circle', 'blue triangle']):
        share = 100.0 * (labels == index).mean()
        assert areas.get(name, 0.0) == pytest.approx(share, abs=0.05)
    label = int(labels[40, 30])
    assert service.inspect(session, 30, 40).startswith(
        f'(30, 40): {["red square", "green circle", "blue triangle"][label]}, score ')


def test_sam_refinement_relabels_the_clicked_object(service, session):
    service.run(session, SHAPES, 'red square, green circle', 'semantic')
    before = session.last.sample.pred_sem_seg.data.clone()
    assert 'point' in service.add_prompt(session, 30, 40, 'foreground point')
    assert 'first corner' in service.add_prompt(session, 10, 10, 'box corner')
    assert 'box (10, 10) - (60, 70)' in service.add_prompt(session, 60, 70, 'box corner')
    result = service.refine(session, 'green circle')
    after = session.last.sample.pred_sem_seg.data
    changed = after != before
    assert (after[changed] == 1).all()
    assert 'labelled' in result.message and session.prompts == []
    with pytest.raises(UserError, match='choose the class'):
        service.add_prompt(session, 1, 1, 'foreground point')
        service.refine(session, 'zebra')


def test_a_dragged_box_replaces_the_box_and_keeps_the_points(service, session):
    service.run(session, SHAPES, 'red square, green circle', 'semantic')
    service.add_prompt(session, 30, 40, 'foreground point')
    service.add_prompt(session, 5, 5, 'box corner')  # a pending first corner is dropped
    assert 'box (10, 20) - (60, 70)' in service.set_box(session, 60, 20, 10, 70)
    assert session.box_corner is None
    assert session.prompts == [(30.0, 40.0, 1), (10.0, 20.0, 2), (60.0, 70.0, 2)]
    service.set_box(session, 0, 0, 20, 20)  # a second drag replaces the box
    assert [p for p in session.prompts if p[2] == 2] == [(0.0, 0.0, 2), (20.0, 20.0, 2)]
    assert 'box' in service.undo_prompt(session) or session.prompts == [(30.0, 40.0, 1)]
    assert session.prompts == [(30.0, 40.0, 1)]


def test_sam_refinement_needs_a_checkpoint_and_a_semantic_result(session):
    service = AnnotationService(default_configs(TINY))  # no SAM configured
    with pytest.raises(UserError, match='run a task'):
        service.add_prompt(session, 1, 1, 'foreground point')
    service.run(session, SHAPES, 'red square', 'semantic')
    with pytest.raises(UserError, match='--sam-checkpoint'):
        service.add_prompt(session, 1, 1, 'foreground point')


@pytest.mark.parametrize('image, vocabulary, message', [
    (None, 'cat', 'upload or drop an image'),
    (SHAPES, '', 'at least one class'),
    (SHAPES, ' , ; ', 'at least one class'),
    (SHAPES, 'cat, cat', 'cat'),
    ('broken', 'cat', 'cannot read the image'),
    ('huge', 'cat', 'downscale large images'),
])
def test_bad_inputs_are_one_line_messages(service, session, tmp_path, image, vocabulary,
                                          message):
    if image == 'broken':
        image = str(tmp_path / 'broken.png')
        open(image, 'wb').write(b'not an image')
    elif image == 'huge':
        small = AnnotationService(default_configs(TINY), max_pixels=100)
        with pytest.raises(UserError, match=message) as caught:
            small.run(session, SHAPES, vocabulary, 'semantic')
        assert '\n' not in str(caught.value)
        return
    with pytest.raises(UserError, match=message) as caught:
        service.run(session, image, vocabulary, 'semantic')
    assert '\n' not in str(caught.value)


def test_unknown_task_or_config_and_missing_weights_are_messages(service, session):
    with pytest.raises(UserError, match='unknown task'):
        service.run(session, SHAPES, 'cat', 'tracking')
    with pytest.raises(UserError, match='not offered'):
        service.run(session, SHAPES, 'cat', 'semantic', config='configs/tiny/det_tiny.py')
    real = AnnotationService(default_configs(None))
    with pytest.raises(UserError, match='download_weights.py') as caught:
        real.run(session, SHAPES, 'cat', 'semantic')
    assert 'sclip_vitb16_ade20k_336.py' in str(caught.value)


def test_sessions_are_private_and_removed_on_close(service, tmp_path):
    first, second = AppSession.create(str(tmp_path)), AppSession.create(str(tmp_path))
    a = service.run(first, SHAPES, 'red square', 'semantic')
    b = service.run(second, SHAPES, 'green circle', 'semantic')
    assert first.folder != second.folder and first.last.sample is not second.last.sample
    assert a.overlay.startswith(first.folder) and b.overlay.startswith(second.folder)
    first.close()
    assert not os.path.exists(first.folder) and os.path.isfile(b.overlay)
    second.close()
    assert os.listdir(tmp_path) == []


def test_app_command_line_checks_files_before_building(tmp_path):
    from tests.scripts import load_script
    app_script = load_script('demo/app.py')
    for flag in ('--weights', '--sam-checkpoint'):
        args = app_script.parse_args(['--config', TINY, flag, str(tmp_path / 'missing.pth')])
        with pytest.raises(FileNotFoundError, match=flag):
            app_script.build(args)
    assert app_script.parse_args([]).device == 'auto'


def test_downloads_hold_the_annotate_datasets_read_back_by_pycocotools(service, session):
    from pycocotools.coco import COCO
    result = service.run(session, SHAPES, 'red square, green circle, blue triangle', 'semantic',
                         formats=['coco', 'yolo', 'voc', 'labelstudio', 'cvat'])
    folder = os.path.dirname(result.overlay)
    for name in ('coco/annotations.json', 'yolo/detect/data.yaml', 'labelstudio',
                 'cvat', 'voc', 'images/shapes.png'):
        assert os.path.exists(os.path.join(folder, 'datasets', name)), name
    coco = COCO(os.path.join(folder, 'datasets', 'coco', 'annotations.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == [
        'red square', 'green circle', 'blue triangle']
    labels = session.last.sample.pred_sem_seg.data[0].numpy()
    union = np.zeros(labels.shape, bool)
    for annotation in coco.loadAnns(coco.getAnnIds()):
        mask = coco.annToMask(annotation).astype(bool)
        assert (labels[mask] == annotation['category_id'] - min(coco.getCatIds())).all()
        union |= mask
    assert (union == (labels != 255)).all()
    with pytest.raises(UserError, match='unknown dataset format'):
        service.run(session, SHAPES, 'red square', 'semantic', formats=['tiff'])
    assert session.formats == ('coco', 'yolo', 'voc', 'labelstudio', 'cvat')


@pytest.mark.parametrize('config', [None, TINY])
def test_every_default_and_listed_config_exists(config):
    service = AnnotationService(default_configs(config))
    for task in TASKS:
        assert os.path.isfile(service.defaults[task]), service.defaults[task]
        assert all(os.path.isfile(path) for path in service.configs(task)), task
        assert task_of_config(service.defaults[task]) == task


def test_config_choices_have_readable_names_grouped_by_method_and_dataset():
    from ovperception.webapp.tasks import config_choices, config_label
    assert config_label('segmentation/sclip_vitb16_ade20k_336.py') == \
        'SCLIP · ADE20K 336 px · ViT-B/16'
    assert config_label('anomaly/winclip_plus_vitb16plus_mvtec_4shot.py') == \
        'WinCLIP + · MVTec AD 4-shot · ViT-B/16+'
    assert 'random' in config_label(TINY)
    # a config added later (a new method and dataset) is named from its file name
    assert config_label('segmentation/newseg_vitl14_kitti_512.py') == \
        'NEWSEG · kitti 512 px · ViT-L/14'
    service = AnnotationService(default_configs(None))
    choices = config_choices(service.configs('semantic'))
    assert choices[0][1] == service.defaults['semantic']
    labels = [label for label, _ in choices[1:]]
    assert labels == sorted(labels, key=str.lower) and len(set(labels)) == len(labels)


def test_anomaly_examples_are_offered():
    from ovperception.webapp.ui import example_images
    names = {os.path.relpath(path, 'demo/examples') for path in
             example_images(os.path.abspath('demo/examples'))}
    assert {'anomaly/scratched.jpg', 'anomaly/good/fabric_0.jpg', 'shapes.png'} <= names


def test_real_example_photos_are_offered_small_and_with_their_licence():
    from ovperception.webapp.ui import example_images
    offered = {os.path.basename(path) for path in example_images(os.path.abspath('demo/examples'))}
    with open('demo/examples/SOURCES.md', encoding='utf-8') as handle:
        sources = handle.read()
    for name in ('coffee.jpg', 'chelsea.jpg'):
        path = os.path.join('demo/examples', name)
        assert name in offered and os.path.getsize(path) <= 200_000
        row = next(line for line in sources.splitlines() if line.startswith(f'| `{name}`'))
        assert 'CC0' in row and 'sha256' in row
        image, _, _ = AnnotationService(default_configs(TINY)).read_image(path)
        assert image.shape[0] >= 300 and image.shape[1] >= 450  # a photo, not a toy


def test_anomaly_threshold_unset_means_the_models_own(service, session):
    good = 'demo/examples/anomaly/good/fabric_0.jpg'
    result = service.run(session, good, 'fabric', 'anomaly', anomaly_threshold='')
    assert result.rows[0][2] == 'no verdict (no threshold)' and 'no verdict' in result.message
    model = service.model(service.defaults['anomaly'])
    model.anomaly_threshold = 1e9  # a config's calibrated threshold
    try:
        result = service.run(session, good, 'fabric', 'anomaly', anomaly_threshold=None)
    finally:
        model.anomaly_threshold = None
    assert result.rows[0][2].startswith('normal (threshold 1000000000')
    threshold, message = service.calibrate(
        session, [f'demo/examples/anomaly/good/fabric_{i}.jpg' for i in range(3)], 'fabric')
    for index in range(3):
        row = service.run(session, f'demo/examples/anomaly/good/fabric_{index}.jpg', 'fabric',
                          'anomaly', anomaly_threshold=str(threshold)).rows[0]
        assert row[2].startswith('normal')
        assert float(session.last.sample.pred_score) < threshold
    with pytest.raises(UserError, match='must be a number'):
        service.run(session, good, 'fabric', 'anomaly', anomaly_threshold='high')
    with pytest.raises(UserError, match='normal'):
        service.calibrate(session, [], 'fabric')


def test_a_large_image_is_downscaled_on_request(session, tmp_path):
    small = AnnotationService(default_configs(TINY), max_pixels=3000)
    with pytest.raises(UserError, match='downscale large images') as caught:
        small.run(session, SHAPES, 'red square', 'semantic')
    assert 'max_pixels' not in str(caught.value) and str(session.folder) not in str(caught.value)
    result = small.run(session, SHAPES, 'red square', 'semantic', downscale=True)
    assert 'downscaled from 128x96 to 63x47' in result.message
    assert session.last.image.shape == (47, 63, 3)
    folder = os.path.dirname(result.overlay)
    copied = Image.open(os.path.join(folder, 'datasets', 'images', 'shapes.png'))
    assert copied.size == (63, 47)
    with pytest.raises(UserError, match='too large even to downscale'):
        AnnotationService(default_configs(TINY), max_pixels=100).run(
            session, SHAPES, 'cat', 'semantic', downscale=True)


def test_read_errors_name_the_upload_not_the_server_path(service, session, tmp_path):
    broken = tmp_path / 'uploads' / 'not_an_image.png'
    broken.parent.mkdir()
    broken.write_bytes(b'not an image')
    with pytest.raises(UserError, match='not_an_image.png') as caught:
        service.run(session, str(broken), 'cat', 'semantic')
    assert str(tmp_path) not in str(caught.value)


def test_counts_are_integers(service, session):
    rows = service.run(session, SHAPES, 'red square', 'counting').rows
    assert rows and all(row[1].isdigit() for row in rows)


def test_session_store_removes_closed_idle_and_over_budget_sessions(tmp_path):
    from ovperception.webapp.session import SessionStore, folder_bytes
    store = SessionStore(str(tmp_path), max_bytes=3000, ttl_s=3600)
    first, second = store.get('a'), store.get('b')
    assert store.get('a') is first
    store.close('a')
    assert not os.path.exists(first.folder) and len(store) == 1
    for key in ('c', 'd', 'e'):
        with open(os.path.join(store.get(key).folder, 'result.bin'), 'wb') as handle:
            handle.write(b'x' * 1000)
    total = store.enforce_budget(keep='e')
    assert total <= 3000 and folder_bytes(str(tmp_path)) <= 3000
    assert os.path.exists(store.get('e').folder)
    store.ttl_s = 0.0
    store.get('e')
    assert len(store) == 1 and os.listdir(tmp_path) == [os.path.basename(store.get('e').folder)]
    store.close_all()
    assert os.listdir(tmp_path) == []


def _components(app) -> dict[str, dict]:
    """Props of the page's components by elem_id."""
    return {c['props']['elem_id']: c['props'] for c in app.get_config_file()['components']
            if c.get('props', {}).get('elem_id')}


def test_sam_controls_are_disabled_with_a_note_without_a_checkpoint(tmp_path):
    pytest.importorskip('gradio')
    from tests.scripts import load_script
    app_script = load_script('demo/app.py')
    without = _components(app_script.build(app_script.parse_args(['--config', TINY]),
                                           str(tmp_path / 'a')))
    assert without['refine']['interactive'] is False
    assert without['sam-class']['interactive'] is False
    assert [c[1] for c in without['sam-mode']['choices']] == ['inspect']
    assert '--sam-checkpoint' in without['sam-note']['value']
    with_sam = _components(app_script.build(
        app_script.parse_args(['--config', TINY, '--sam-model', 'tiny']), str(tmp_path / 'b')))
    assert with_sam['refine'].get('interactive') is not False
    assert 'box corner' in [c[1] for c in with_sam['sam-mode']['choices']]
    assert with_sam['threshold']['value'] == ''


def test_app_limits_come_from_the_command_line(tmp_path):
    from tests.scripts import load_script
    app_script = load_script('demo/app.py')
    args = app_script.parse_args(['--config', TINY, '--max-megapixels', '0.5',
                                  '--max-session-mb', '1'])
    app = app_script.build(args, str(tmp_path))
    assert app.session_store.max_bytes == 2**20
    with pytest.raises(SystemExit):
        app_script.parse_args(['--max-megapixels', '0'])


def test_interactive_view_is_bounded_and_uses_the_overlay_colours():
    import torch
    from mmengine.structures import PixelData

    from ovperception.structures import OVDataSample
    from ovperception.visualization import get_palette
    from ovperception.webapp.annotated import VIEW_MAX_SIDE, result_view
    labels = np.zeros((3000, 4000), np.int64)
    labels[:, 2000:] = 2
    sample = OVDataSample(metainfo=dict(classnames=['sky', 'road', 'car']))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(labels[None]))
    view = result_view('semantic', sample, np.zeros((3000, 4000, 3), np.uint8))
    assert view.image.shape == (768, VIEW_MAX_SIDE, 3)
    assert [text for _, text in view.regions] == ['sky 50.0 %', 'car 50.0 %']
    assert all(mask.shape == (768, 1024) for mask, _ in view.regions)
    palette = get_palette(3)
    assert view.colors == {'sky 50.0 %': '#%02x%02x%02x' % tuple(palette[0]),
                           'car 50.0 %': '#%02x%02x%02x' % tuple(palette[2])}


@pytest.mark.parametrize('config, kind', [('anomaly_tiny_anomalydino.py', 'references'),
                                          ('anomaly_tiny_musc.py', 'unlabeled set')])
def test_models_that_compare_against_normal_images_take_the_uploaded_ones(
        service, session, config, kind):
    """AnomalyDINO (few-shot references) and MuSc (an unlabeled set) are listed in the app
    and score against the normal images uploaded for calibration; before an upload the run
    is a one-line message, and calibration scores each image against the others."""
    config = os.path.join(CONFIG_ROOT, 'tiny', config)
    assert os.path.relpath(config, CONFIG_ROOT) in configs_for_task('anomaly')
    image = 'demo/examples/anomaly/scratched.jpg'
    with pytest.raises(UserError, match=f'normal images of the object \\({kind}\\)'):
        service.run(session, image, 'fabric', 'anomaly', config=config)
    normals = [f'demo/examples/anomaly/good/fabric_{i}.jpg' for i in range(3)]
    threshold, message = service.calibrate(session, normals, 'fabric', config)
    assert threshold is not None and f"this model's {kind}" in message
    result = service.run(session, image, 'fabric', 'anomaly', config=config,
                         anomaly_threshold=str(threshold))
    assert result.rows and 'threshold' in result.rows[0][2]
    if kind == 'references':
        too_few, message = service.calibrate(session, normals[:1], 'fabric', config)
        assert too_few is None and 'too few' in message
    else:
        with pytest.raises(UserError, match='at least 2'):
            service.calibrate(session, normals[:1], 'fabric', config)
        assert len(session.reference_paths) == 3  # the earlier set stays


def test_adaclip_is_listed_and_runs_in_the_anomaly_task(service, session):
    """AdaCLIP (text conditioned on each image) through the app's anomaly task."""
    config = os.path.join(CONFIG_ROOT, 'tiny', 'anomaly_tiny_adaclip.py')
    assert os.path.relpath(config, CONFIG_ROOT) in configs_for_task('anomaly')
    from ovperception.webapp.tasks import config_label
    assert 'anomaly_tiny_adaclip' in config_label(config)
    assert config_label('anomaly/adaclip_vitl14_336_visa.py').startswith('AdaCLIP')
    result = service.run(session, 'demo/examples/anomaly/scratched.jpg', 'fabric', 'anomaly',
                         config=config, anomaly_threshold='0.0')
    assert result.rows and 'threshold' in result.rows[0][2]


def _with_detections(session, scores: list[float]) -> None:
    """Replace the session's detection result by boxes of known ``scores`` (class 0/1)."""
    import torch
    from mmengine.structures import InstanceData
    raw = session.last.unfiltered.clone()
    count = len(scores)
    raw.pred_instances = InstanceData(
        bboxes=torch.tensor([[4.0 * i, 4.0 * i, 4.0 * i + 20, 4.0 * i + 20]
                             for i in range(count)]),
        labels=torch.tensor([i % 2 for i in range(count)]), scores=torch.tensor(scores))
    session.last.unfiltered = raw


def test_detection_threshold_and_top_k_filter_the_last_result_without_a_model_run(
        service, session):
    service.run(session, SHAPES, VOCABULARIES['detection'], 'detection',
                score_threshold=0.0, top_k=0)
    encodes = session.encode_count
    _with_detections(session, [0.2, 0.9, 0.5, 0.7, 0.1])
    result = service.filter_detections(session, 0.3, 2)
    assert session.encode_count == encodes and 'model not run again' in result.message
    assert '2 of 5 detection(s) shown (score >= 0.30, top 2)' in result.message
    assert [row[1] for row in result.rows] == ['0.900', '0.700']
    coco = next(p for p in result.files if p.endswith('.zip'))
    with zipfile.ZipFile(coco) as archive:
        annotations = json.loads(archive.read('datasets/coco/annotations.json'))['annotations']
    assert sorted(a['score'] for a in annotations) == pytest.approx([0.7, 0.9])
    assert len(service.filter_detections(session, 0.0, 0).rows) == 5  # nothing is lost
    assert len(service.filter_detections(session, 0.95, '').rows) == 0
    for bad, message in (((1.5, 0), 'in [0, 1]'), ((0.2, -1), 'top-k'), (('x', 0), 'number'),
                         ((0.2, 2.5), 'whole number')):
        with pytest.raises(UserError, match=message.replace('[', r'\[').replace(']', r'\]')):
            service.filter_detections(session, *bad)
    service.run(session, SHAPES, VOCABULARIES['semantic'], 'semantic')
    with pytest.raises(UserError, match='run the detection task first'):
        service.filter_detections(session, 0.5, 1)


def test_detection_overlay_tags_never_overlap(service, session, monkeypatch):
    from ovperception.visualization import overlay as drawing
    from ovperception.visualization.canvas import text_size
    drawn = []
    real = drawing.put_text

    def record(img, text, x, y, scale, thickness, *args, **kwargs):
        width, height, base = text_size(text, scale, thickness)
        drawn.append((x, y, x + width + 4, y + height + base + 4))
        return real(img, text, x, y, scale, thickness, *args, **kwargs)

    service.run(session, SHAPES, VOCABULARIES['detection'], 'detection')
    _with_detections(session, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])  # boxes 4 px apart
    monkeypatch.setattr(drawing, 'put_text', record)
    service.filter_detections(session, 0.0, 0)
    assert len(drawn) >= 2
    for i, (a1, b1, a2, b2) in enumerate(drawn):
        for c1, d1, c2, d2 in drawn[i + 1:]:
            assert a2 <= c1 or c2 <= a1 or b2 <= d1 or d2 <= b1


def test_detection_run_applies_the_threshold(service, session):
    result = service.run(session, SHAPES, VOCABULARIES['detection'], 'detection',
                         score_threshold=1.0)
    total = len(session.last.unfiltered.pred_instances)
    kept = int((session.last.unfiltered.pred_instances.scores >= 1.0).sum())
    assert f'{kept} of {total} detection(s) shown (score >= 1.00)' in result.message
    assert len(result.rows) == kept


def test_panoptic_downloads_describe_the_segments_the_page_shows(service, session):
    result = service.run(session, SHAPES, VOCABULARIES['panoptic'], 'panoptic',
                         formats=['coco', 'yolo'])
    names = {os.path.basename(path) for path in result.files}
    assert not any(name.endswith(('_det_overlay.png', '_detections.json', '_labels.png'))
                   or name in ('shapes_overlay.png', 'shapes.json') for name in names), names
    bundle = next(path for path in result.files if path.endswith('.zip'))
    with zipfile.ZipFile(bundle) as archive:
        segments = json.loads(archive.read('shapes_panoptic.json'))['segments_info']
        coco = json.loads(archive.read('datasets/coco/annotations.json'))
    assert len(segments) == len(result.rows) == len(coco['annotations'])
    shown = sorted(row[0] for row in result.rows)
    categories = {c['id']: c['name'] for c in coco['categories']}
    assert sorted(categories[a['category_id']] for a in coco['annotations']) == shown
    # a panoptic map with no segment: "nothing found", and no download holds an object
    session.last.sample.pred_panoptic_seg.data[:] = -1
    empty = service._publish(session)
    assert empty.rows == []
    with zipfile.ZipFile(next(p for p in empty.files if p.endswith('.zip'))) as archive:
        assert json.loads(archive.read('shapes_panoptic.json'))['segments_info'] == []
        assert json.loads(archive.read('datasets/coco/annotations.json'))['annotations'] == []


def test_model_list_marks_whose_weights_are_on_this_machine(tmp_path, monkeypatch):
    """open_clip tags are looked up in the URL / HF caches, weight files by path; nothing is
    downloaded (a test that reached the internet would fail: no file appears by itself)."""
    from ovperception.models.clip.open_clip import pretrained_cfg
    from ovperception.webapp.weights_here import config_weights_here
    monkeypatch.chdir(tmp_path)
    url_cache, hub_cache = tmp_path / 'clip', tmp_path / 'hub'
    url_cache.mkdir()
    hub_cache.mkdir()
    config = tmp_path / 'method_vitb16_ade20k_336.py'
    config.write_text(
        "model = dict(type='M', backbone=dict(type='OpenCLIPBackbone', model_name='ViT-B-16',"
        " pretrained='openai'), refiner=dict(type='R', weights='checkpoints/head.pt'))\n")

    def here() -> bool | None:
        return config_weights_here(str(config), str(hub_cache), str(url_cache))

    assert here() is False
    url = pretrained_cfg('ViT-B-16', 'openai')['url']
    (url_cache / os.path.basename(url)).write_bytes(b'weights')
    assert here() is False  # the refiner's file is still missing
    (tmp_path / 'checkpoints').mkdir()
    (tmp_path / 'checkpoints' / 'head.pt').write_bytes(b'weights')
    assert here() is True
    # an open_clip tag from the Hugging Face hub, in the hub cache's layout
    config.write_text(
        "model = dict(type='M', backbone=dict(type='OpenCLIPBackbone', model_name='ViT-B-16',"
        " pretrained='laion2b_s34b_b88k'))\n")
    assert here() is False
    repo = hub_cache / 'models--laion--CLIP-ViT-B-16-laion2B-s34B-b88K'
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('0123abcd')
    (repo / 'snapshots' / '0123abcd').mkdir(parents=True)
    (repo / 'snapshots' / '0123abcd' / 'open_clip_pytorch_model.bin').write_bytes(b'w')
    assert here() is True
    assert config_weights_here(os.path.join(CONFIG_ROOT, 'tiny', 'seg_tiny.py')) is None
    monkeypatch.chdir(os.path.dirname(CONFIG_ROOT))
    full = AnnotationService(default_configs(None))
    labels = dict((path, label) for label, path in full.config_choices('semantic'))
    sclip = full.defaults['semantic']
    expected = {True: 'weights here', False: 'weights not on this machine'}[
        config_weights_here(sclip)]
    assert labels[sclip].endswith(expected)
    assert not any('weights' in label for path, label in labels.items() if '/tiny/' in path)
    assert all('weights' not in label for label, _ in
               AnnotationService(default_configs(None), weights='w.pt').config_choices('semantic'))


def test_a_portrait_photo_is_not_taken_for_a_downscaled_one(service, session, tmp_path):
    """The header's size is before EXIF rotation: a photo stored landscape with orientation 6
    (rotate 90°) is read portrait, and is neither called downscaled nor stretched."""
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:, :32] = 255  # left half white, so the rotation is visible
    path = str(tmp_path / 'portrait.jpg')
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif)
    image, name, original = service.read_image(path, downscale=True)
    assert image.shape[:2] == (64, 40) and original == (40, 64) and name == 'portrait.jpg'
    result = service.run(session, path, VOCABULARIES['semantic'], 'semantic')
    assert 'downscaled' not in result.message


def test_a_task_change_reads_each_config_once(monkeypatch):
    """What a change of task asks (model list with weights marks, vocabulary hint, background
    words, then the model's change handlers) parses each config once, not up to four times."""
    from collections import Counter

    from mmengine.config import Config
    reads, original = Counter(), Config.fromfile

    def counting(filename, *args, **kwargs):
        reads[os.path.abspath(str(filename))] += 1
        return original(filename, *args, **kwargs)

    monkeypatch.setattr(Config, 'fromfile', staticmethod(counting))
    full = AnnotationService(default_configs(None))
    for task in ('semantic', 'detection', 'semantic'):
        default = full.defaults[task]
        full.config_choices(task)  # on_task
        full.vocabulary_hint(task, default)
        full.background_words(default)  # the model's change handlers
        full.vocabulary_hint(task, default)
    assert reads and max(reads.values()) == 1, reads.most_common(3)


def test_config_cache_reads_a_changed_file_again(tmp_path):
    from ovperception.webapp.config_cache import ConfigCache
    path = tmp_path / 'c.py'
    path.write_text("model = dict(type='A')\n")
    cache = ConfigCache(max_entries=1)
    first = cache.get(str(path))
    assert cache.get(str(path)) is first and first.model.type == 'A'
    path.write_text("model = dict(type='BB')\n")  # another size (and modification time)
    assert cache.get(str(path)).model.type == 'BB'
    path.write_text('model = dict(\n')
    with pytest.raises(Exception):
        cache.get(str(path))  # a bad config is an error each time, never a stale result
    with pytest.raises(OSError):
        cache.get(str(tmp_path / 'missing.py'))
