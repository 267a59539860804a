"""The CPU runtimes that run an exported dense graph: onnxruntime and OpenVINO.

Both read the same ``.onnx`` file written by :func:`~ovperception.deploy.export_onnx` and
give :class:`~ovperception.deploy.onnx_model.ONNXDenseModel` a :class:`GraphRunner`: a
function from a float32 array of normalised crops ``(n, 3, H, W)`` to the graph's output
``(n, D, h, w)``, plus the file's ``ovperception`` metadata.

OpenVINO reads the ONNX file with ``openvino.Core.read_model`` (its C++ ONNX frontend). It
does not go through ``openvino.convert_model`` / ``ovc``: those are the only OpenVINO entry
points that start ``openvino_telemetry``, which sends usage events unless the user opted out
(``opt_in_out --opt_out``); reading and compiling a model sends nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ovperception.deploy.onnx_files import INPUT_NAME, METADATA_KEY, parse_metadata

#: ``--runtime`` values of the tools (``onnx`` = onnxruntime).
RUNTIMES = ('onnx', 'openvino')

#: onnxruntime graph optimisation levels (``--ort-level``; ``all`` is the default).
ORT_LEVELS = ('disable', 'basic', 'extended', 'all')


@dataclass(frozen=True)
class GraphRunner:
    """An exported graph opened by one runtime.

    Attributes:
        run: float32 ``(n, 3, H, W)`` crops -> float32 ``(n, D, h, w)`` graph output.
        metadata: the file's ``ovperception`` metadata (export settings, vocabulary).
        runtime: ``'onnx'`` or ``'openvino'``.
    """

    run: Callable[[np.ndarray], np.ndarray]
    metadata: dict
    runtime: str


def open_onnxruntime(path: str, threads: int | None = None,
                     providers: tuple[str, ...] = ('CPUExecutionProvider',),
                     level: str = 'all') -> GraphRunner:
    """``path`` in an ``onnxruntime.InferenceSession`` (optimisation ``level``)."""
    import onnxruntime as ort  # optional dependency: pip install 'ovperception[onnx]'
    levels = dict(zip(ORT_LEVELS, (ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   ort.GraphOptimizationLevel.ORT_ENABLE_ALL)))
    if level not in levels:
        raise ValueError(f'onnxruntime optimisation level must be one of {ORT_LEVELS}, '
                         f'got {level!r}')
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[level]
    if threads:
        options.intra_op_num_threads = int(threads)
    session = ort.InferenceSession(path, options, providers=list(providers))
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return GraphRunner(lambda crops: session.run(None, {INPUT_NAME: crops})[0],
                       parse_metadata(raw, path), 'onnx')


def open_openvino(path: str, threads: int | None = None) -> GraphRunner:
    """``path`` compiled by OpenVINO for the CPU in float32 (its default on CPUs with
    bf16 or fp16 units is lower precision, which changes labels), latency hint (one
    request, all ``threads`` on it)."""
    import openvino as ov  # optional dependency: pip install 'ovperception[openvino]'
    core = ov.Core()
    model = core.read_model(path)
    key = ['framework', METADATA_KEY]  # where the ONNX frontend puts metadata_props
    raw = model.get_rt_info(key).astype(str) if model.has_rt_info(key) else None
    metadata = parse_metadata(raw, path)
    config = {'INFERENCE_PRECISION_HINT': 'f32', 'PERFORMANCE_HINT': 'LATENCY'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    request = core.compile_model(model, 'CPU', config).create_infer_request()

    def run(crops: np.ndarray) -> np.ndarray:
        # copied out: the request reuses its output buffer on the next call
        return np.array(request.infer({INPUT_NAME: crops})[0], copy=True)
    return GraphRunner(run, metadata, 'openvino')


def open_graph(path: str, runtime: str = 'onnx', threads: int | None = None,
               providers: tuple[str, ...] = ('CPUExecutionProvider',),
               ort_level: str = 'all') -> GraphRunner:
    """Open an exported ``.onnx`` file with ``runtime`` (:data:`RUNTIMES`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown runtime.
        ExportError: the file holds no ``ovperception`` metadata.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'ONNX file not found: {path!r}')
    if runtime == 'onnx':
        return open_onnxruntime(path, threads, providers, ort_level)
    if runtime == 'openvino':
        return open_openvino(path, threads)
    raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
