"""Commands answer at once: ``--help`` and argument errors of every tool parse before torch,
open_clip, mmengine's config machinery and the models are imported (measured numbers:
docs/benchmarks.md, "Start-up")."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.scripts import ROOT

TOOLS = ['demo/image_demo.py', 'demo/app.py', 'tools/test.py', 'tools/train.py',
         'tools/benchmark.py', 'tools/download_weights.py', 'tools/export_onnx.py',
         'tools/convert_checkpoint.py',
         pytest.param('tools/annotate.py', marks=pytest.mark.xfail(
             reason='its argument choices come from ovperception.annotation, whose package '
                    'imports torch (issue #23 owns that package)', strict=False))]
HEAVY = ('torch', 'open_clip', 'timm', 'mmengine.config', 'ovperception.models')
PROBE = '''
import json, re, runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
code = 0
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as exit:
    code = exit.code
print(json.dumps(dict(code=code, heavy=[m for m in {heavy!r} if m in sys.modules],
                      max_rss_mb=int(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()
                                                ).group(1)) / 1024)))
'''


def _probe(tool: str, *argv: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, '-c', PROBE.format(heavy=HEAVY),
                             os.path.join(ROOT, tool), *argv], capture_output=True, text=True,
                            env=env, timeout=120, cwd=ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('tool', TOOLS)
def test_help_imports_neither_torch_nor_the_models(tool):
    report = _probe(tool, '--help')
    assert report['code'] in (0, None)
    assert report['heavy'] == [], f'{tool} --help imported {report["heavy"]}'
    assert report['max_rss_mb'] < 150  # peak resident memory (VmHWM; ru_maxrss keeps the
    # forking parent's peak across exec)


@pytest.mark.parametrize('tool,argv', [
    ('demo/image_demo.py', ['x.png', '--vocab', 'cat']),          # --out missing
    ('demo/image_demo.py', ['x.png', '--vocab', 'c', '--out', 'o', '--sam-model', 'vit_x']),
    ('tools/test.py', []), ('tools/train.py', ['c.py', '--launcher', 'nope']),
    ('tools/benchmark.py', ['c.py', '--size', '12y']),
    ('tools/download_weights.py', ['--sam', 'vit_q']),
    ('tools/export_onnx.py', ['c.py', '--vocab', 'cat', '--out', 'x.txt']),
    ('tools/convert_checkpoint.py', ['fmt'])])
def test_argument_errors_answer_before_torch(tool, argv):
    report = _probe(tool, *argv)
    assert report['code'] == 2 and report['heavy'] == []


def test_importing_the_package_and_its_api_loads_no_torch():
    code = ('import sys, ovperception, ovperception.apis; '
            'print([m for m in ("torch", "open_clip") if m in sys.modules])')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60).stdout
    assert out.strip() == '[]'
