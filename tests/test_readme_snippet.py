"""The README's Python API snippet runs as written (its files exist)."""
from __future__ import annotations

import os
import re

from tests.scripts import ROOT


def test_readme_api_snippet_runs(monkeypatch):
    text = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    snippet = re.search(r'```python\n(.*?)```', text, re.S).group(1)
    for path in re.findall(r"'((?:configs|demo)/[^']+)'", snippet):
        assert os.path.isfile(os.path.join(ROOT, path)), path
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(snippet, 'README.md', 'exec'), namespace)
    sample = namespace['sample']
    assert sample.metainfo['label_names'] == ['red square', 'green circle', 'blue triangle']
