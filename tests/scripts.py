"""The command-line scripts (tools/*.py, demo/*.py) loaded as modules, once, for tests."""
from __future__ import annotations

import importlib.util
import os
from types import ModuleType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relative: str) -> ModuleType:
    """Import the script at ``ROOT/relative`` as a module (its ``main`` is not run)."""
    path = os.path.join(ROOT, relative)
    spec = importlib.util.spec_from_file_location(
        'script_' + relative.replace('/', '_')[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


test_tool = load_script('tools/test.py')
train_tool = load_script('tools/train.py')
demo = load_script('demo/image_demo.py')
