"""A running web app on a free localhost port (tiny models), shared by the server tests."""
from __future__ import annotations

import os
import socket

import pytest

from tests.scripts import load_script


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture(scope='module')
def served_app(tmp_path_factory):
    """(URL, gradio app) of the app served with configs/tiny/seg_tiny.py and a tiny SAM."""
    pytest.importorskip('gradio')
    os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
    app_script = load_script('demo/app.py')
    args = app_script.parse_args(['--config', 'configs/tiny/seg_tiny.py', '--sam-model', 'tiny',
                                  '--device', 'cpu'])
    app = app_script.build(args, upload_root=str(tmp_path_factory.mktemp('sessions')))
    app.queue(default_concurrency_limit=2)
    _, url, _ = app.launch(server_name='127.0.0.1', server_port=free_port(),
                           prevent_thread_lock=True, quiet=True, max_file_size='5mb',
                           **app.launch_options)
    yield url, app
    app.close()


@pytest.fixture(scope='module')
def app_url(served_app):
    """URL of the served app."""
    return served_app[0]
