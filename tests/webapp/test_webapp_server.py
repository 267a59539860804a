"""The web app's HTTP API driven by gradio_client: every task, downloads, errors shown as
messages while the server keeps serving, concurrent users kept apart."""
from __future__ import annotations

import json
import os
import threading
import zipfile

import pytest

gradio_client = pytest.importorskip('gradio_client')
from gradio_client import Client, handle_file  # noqa: E402

SHAPES = 'demo/examples/shapes.png'


def run(client: Client, vocabulary: str, task: str = 'semantic', image: str = SHAPES,
        formats: tuple[str, ...] = ('coco',), **options):
    """The /run endpoint with the task's default config; parameters left out take the
    page's defaults."""
    options.setdefault('config', None)
    return client.predict(image=handle_file(image), vocabulary=vocabulary, task=task,
                          formats=list(formats), api_name='/run', **options)


def test_every_task_runs_through_the_api(app_url):
    client = Client(app_url, verbose=False)
    for task, vocabulary in (('semantic', 'red square, green circle'),
                             ('panoptic', 'red square, green circle'),
                             ('detection', 'red square, green circle'),
                             ('counting', 'red square'), ('anomaly', 'screw')):
        overlay, regions, status, table, files, _ = run(client, vocabulary, task)
        assert os.path.isfile(overlay) and overlay.endswith('.png'), task
        assert status.startswith(task if task != 'semantic' else 'semantic segmentation')
        assert table['headers'] == ['class', 'value', 'detail']
        assert any(path.endswith('.zip') for path in files)
        regions = regions.get('value', regions)  # with the class colours as an update
        assert os.path.isfile(regions['image']) and isinstance(regions['annotations'], list)
        for path in files:
            if path.endswith('.json'):
                json.load(open(path))
    overlay, regions, status, table, files, classes = run(client, 'red square, green circle',
                                                          formats=('coco', 'yolo'))
    names = [row[0] for row in table['data']]
    assert set(names) <= {'red square', 'green circle', '(unlabelled)'}
    assert classes['choices'] == [['red square', 'red square'], ['green circle', 'green circle']]
    assert any(path.endswith('_labels.png') for path in files)
    bundle = next(path for path in files if path.endswith('.zip'))
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    assert 'datasets/coco/annotations.json' in names and 'datasets/yolo/detect/data.yaml' in names


def test_errors_are_status_lines_and_the_last_good_result_stays(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    good = run(client, 'red square')
    assert 'image encoded' in good[2]
    broken = tmp_path / 'not_an_image.png'
    broken.write_bytes(b'not an image')
    for image, vocabulary, message in ((SHAPES, '', 'at least one class'),
                                       (str(broken), 'cat', 'cannot read the image'),
                                       (SHAPES, 'cat, cat', 'cat')):
        overlay, regions, status, table, files, _ = run(client, vocabulary, image=image)
        assert status.startswith('error: ') and message in status and '\n' not in status
        assert str(tmp_path) not in status and '/tmp' not in status  # no server path
        # the page keeps showing the previous result, and its downloads still exist
        assert all(os.path.isfile(path) for path in good[4])
    assert 'not_an_image.png' in run(client, 'cat', image=str(broken))[2]
    fresh = Client(app_url, verbose=False)
    assert 'run a task' in fresh.predict('inspect', 1, 1, api_name='/click')
    assert 'image features reused' in run(client, 'green circle')[2]


def test_anomaly_verdict_uses_the_models_threshold_unless_one_is_typed(app_url):
    client = Client(app_url, verbose=False)
    good = 'demo/examples/anomaly/good/fabric_0.jpg'
    _, _, status, table, _, _ = run(client, 'fabric', 'anomaly', image=good)
    assert 'threshold 0.000' not in table['data'][0][2]
    assert table['data'][0][2] == 'no verdict (no threshold)' and 'no verdict' in status
    normals = [handle_file(f'demo/examples/anomaly/good/fabric_{i}.jpg') for i in range(3)]
    threshold, message = client.predict(normal_images=normals, vocabulary='fabric',
                                        config=None, api_name='/calibrate')
    assert '3 normal image(s)' in message and float(threshold) > 0
    for index in range(3):
        table = run(client, 'fabric', 'anomaly', threshold=threshold,
                    image=f'demo/examples/anomaly/good/fabric_{index}.jpg')[3]
        assert table['data'][0][2].startswith('normal (threshold ')
    table = run(client, 'fabric', 'anomaly', threshold='0')[3]
    assert table['data'][0][2] == 'anomalous (threshold 0.000)'


def test_concurrent_users_do_not_see_each_other(app_url):
    clients = [Client(app_url, verbose=False) for _ in range(2)]
    vocabularies = ['red square', 'blue triangle']
    results: dict[int, tuple] = {}

    def use(index: int) -> None:
        results[index] = run(clients[index], vocabularies[index])

    threads = [threading.Thread(target=use, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for index, client in enumerate(clients):
        assert vocabularies[index] in results[index][2] or results[index][3]['data'][0][0] \
            in (vocabularies[index], '(unlabelled)')
        clicked = client.predict('inspect', 30, 40, api_name='/click')
        assert vocabularies[index] in clicked or 'unlabelled' in clicked
        other = vocabularies[1 - index]
        assert other not in clicked
    assert results[0][0] != results[1][0]


def test_sam_refinement_through_the_api(app_url):
    client = Client(app_url, verbose=False)
    run(client, 'red square, green circle')
    assert 'point' in client.predict('foreground point', 30, 40, api_name='/click')
    overlay, _, status, _, _, classes = client.predict('green circle', api_name='/refine')
    assert 'labelled' in status and os.path.isfile(overlay)
    assert classes['value'] == 'green circle'  # the class choice is kept for the next refine
    classes = run(client, 'red square, green circle', sam_choice='green circle')[5]
    assert classes['value'] == 'green circle'


def test_downloads_name_the_upload_never_a_server_path(app_url):
    client = Client(app_url, verbose=False)
    files = run(client, 'red square, green circle', formats=('coco', 'voc', 'yolo',
                                                              'labelstudio'))[4]
    bundle = next(path for path in files if path.endswith('.zip'))
    with zipfile.ZipFile(bundle) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode('latin-1')
            assert 'session-' not in text and '/tmp/' not in text, name
        coco = json.loads(archive.read('datasets/coco/annotations.json'))
    assert coco['images'][0]['file_name'] == 'shapes.png'
    assert coco['images'][0]['path'] == 'images/shapes.png'


def test_the_app_process_serves_and_removes_its_files_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.webapp.conftest import free_port
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path), GRADIO_ANALYTICS_ENABLED='False')
    env.pop('GRADIO_TEMP_DIR', None)
    process = subprocess.Popen([sys.executable, 'demo/app.py', '--config',
                                'configs/tiny/seg_tiny.py', '--port', str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5) as reply:
                    assert reply.status == 200
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(1)
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith('ovperception-app-')]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('ovperception-app-')]


def test_detection_threshold_and_top_k_through_the_api(app_url):
    client = Client(app_url, verbose=False)
    _, _, status, table, _, _ = run(client, 'red square, green circle', 'detection',
                                    score_threshold=0.0, top_k=0)
    total = len(table['data'])
    assert total >= 1 and f'{total} of {total} detection(s) shown' in status
    _, _, status, table, files, _ = client.predict(score_threshold=1.0, top_k=0,
                                                   sam_choice=None,
                                                   api_name='/filter_detections')
    assert 'model not run again' in status and f'0 of {total} detection(s)' in status
    assert table['data'] in ([], [[None, None, None]], [['', '', '']])
    bundle = next(path for path in files if path.endswith('.zip'))
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read('datasets/coco/annotations.json'))['annotations'] == []
    status = client.predict(score_threshold=0.0, top_k=1, sam_choice=None,
                            api_name='/filter_detections')[2]
    assert f'1 of {total} detection(s) shown (score >= 0.00, top 1)' in status
