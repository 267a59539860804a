"""Deployment: ONNX export of the dense path with a fixed vocabulary, run by onnxruntime or
OpenVINO inside OVModel's windows and stitching."""
from ovperception.deploy.onnx_export import (ExportError, check_exportable, export_onnx,
                                             read_export_metadata)
from ovperception.deploy.onnx_model import ONNXDenseModel
from ovperception.deploy.runtimes import RUNTIMES, open_graph

__all__ = ['ExportError', 'ONNXDenseModel', 'RUNTIMES', 'check_exportable', 'export_onnx',
           'open_graph', 'read_export_metadata']
