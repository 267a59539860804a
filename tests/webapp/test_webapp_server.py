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
        formats: tuple[str, ...] = ('coco',)):
    return client.predict(handle_file(image), vocabulary, task, None, None, list(formats),
                          api_name='/run')


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


def test_errors_are_messages_and_the_server_keeps_serving(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not an image')
    for image, vocabulary, message in ((SHAPES, '', 'at least one class'),
                                       (str(broken), 'cat', 'cannot read the image'),
                                       (SHAPES, 'cat, cat', 'cat')):
        with pytest.raises(Exception, match=message):
            run(client, vocabulary, image=image)
    with pytest.raises(Exception, match='run a task'):
        client.predict('inspect', 1, 1, api_name='/click')
    assert 'image encoded' in run(client, 'red square')[2]


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
    overlay, _, status, _, _, _ = client.predict('green circle', api_name='/refine')
    assert 'labelled' in status and os.path.isfile(overlay)


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
