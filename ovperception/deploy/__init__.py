"""Deployment: ONNX export of the dense path with a fixed vocabulary, onnxruntime predictor."""
from ovperception.deploy.onnx_export import (ExportError, check_exportable, export_onnx,
                                             read_export_metadata)
from ovperception.deploy.onnx_model import ONNXDenseModel

__all__ = ['ExportError', 'ONNXDenseModel', 'check_exportable', 'export_onnx',
           'read_export_metadata']
