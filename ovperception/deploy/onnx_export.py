"""Export an OVModel's dense path to ONNX with its vocabulary baked in.

The graph maps normalised crops ``(n, 3, H, W)`` (fixed H, W; any n) to the head's dense
output ``(n, D, h, w)``: the backbone with its dense mode (SCLIP, MaskCLIP, ClearCLIP,
NACLIP, ...) followed by the head, whose text embeddings become constants of the graph. What
the graph does not hold - sliding windows, stitching, the head's post-processing - runs in
:class:`~ovperception.deploy.onnx_model.ONNXDenseModel` with the very code of ``OVModel``; the
metadata it needs (vocabulary, window settings, normalisation, head config) is stored in the
ONNX file (``metadata_props['ovperception']``, JSON).

Exportable: ``OVModel`` whose head computes its dense output from the features and the text
alone (the training-free similarity heads, the trained adapter head, the blockwise counting
head). Not exportable: heads re-encoding crops with the image tower (detection), heads or
refiners needing the images (PAMR, SAM, Trident) and FC-CLIP / anomaly models.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ovperception.deploy.onnx_files import (INPUT_NAME, METADATA_KEY, OUTPUT_NAME,  # noqa: F401
                                            ExportError, parse_metadata, rewrite_in_place)
from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.utils.atomic import atomic_write_bytes

OPSET = 18
#: Image refiners without learned weights that run in PyTorch after the exported graph, on its
#: stitched output (NACLIP + PAMR): they travel as configs in the metadata.
POSTPROCESS_REFINERS = frozenset({'PAMRRefiner'})


class DenseGraph(nn.Module):
    """``crops -> head(backbone.dense_features(crops), text)`` with the text as constants."""

    def __init__(self, backbone: nn.Module, head: nn.Module, text: TextEmbeddings) -> None:
        super().__init__()
        self.backbone, self.head, self.text = backbone, head, text

    def forward(self, crops: Tensor) -> Tensor:
        """(n, 3, H, W) normalised crops -> (n, D, h, w) head output."""
        return self.head(self.backbone.dense_features(crops), self.text)


def check_exportable(model: nn.Module) -> None:
    """Raise :class:`ExportError` (one line) unless ``model``'s dense path can be exported."""
    from ovperception.models.ov_model import OVModel
    if not isinstance(model, OVModel):
        raise ExportError(f'{type(model).__name__} cannot be exported: ONNX export covers '
                          'OVModel configs (segmentation heads, blockwise counting)')
    if model.head is None:
        raise ExportError(f'{type(model).__name__} has no dense head (it runs its own '
                          'per-image pipeline): not exportable as one dense graph')
    head = type(model.head).__name__
    if hasattr(model.head, 'bind_image_encoder'):
        raise ExportError(f'{head} re-encodes crops with the image tower after the dense pass '
                          '(detection): not exportable as one dense graph')
    image_steps = list(model.refiners)
    score_refiner = getattr(model.head, 'score_refiner', None)
    if score_refiner is not None:
        image_steps.append(score_refiner)
    elif getattr(model.head, 'uses_images', False):
        raise ExportError(f'{head} needs the images inside its dense pass (Trident): not '
                          'exportable as one dense graph')
    others = sorted({type(step).__name__ for step in image_steps} - POSTPROCESS_REFINERS)
    if others:
        raise ExportError(f'refiners {others} run networks on the images (SAM, DINO): remove '
                          'them to export; PAMR (parameter-free) runs after the graph')
    if getattr(model.head, 'vocabulary_prompts', None) is not None:
        raise ExportError(f'{head} builds its own prompts per class: not exportable yet')


def head_config(cfg: Mapping) -> dict:
    """A JSON-ready copy of a head config, class objects as ``'ovperception.Name'``."""
    def plain(value: object) -> object:
        if isinstance(value, type):
            return f'ovperception.{value.__name__}'
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise ExportError(f'head config value {value!r} cannot be stored in the ONNX file')
    return plain(dict(cfg))  # type: ignore[return-value]


def export_metadata(model: nn.Module, text: TextEmbeddings, classnames: Sequence[str],
                    size: tuple[int, int], head_cfg: Mapping,
                    refiner_cfgs: Sequence[Mapping] = ()) -> dict:
    """What :class:`ONNXDenseModel` needs besides the graph (``refiner_cfgs``: the model's
    post-processing refiners, PAMR, rebuilt after the graph)."""
    stride = getattr(model.head, 'output_stride', None) or model.backbone.patch_size
    mean = model.data_preprocessor.mean.flatten().tolist()
    std = model.data_preprocessor.std.flatten().tolist()
    return dict(format=1, classnames=list(classnames),
                background_words=list(model.background_words),
                logit_scale=float(text.logit_scale), num_names=len(text.vocabulary.names),
                input_size=list(size), output_stride=int(stride),
                test_cfg={k: v for k, v in model.test_cfg.items()
                          if k in ('mode', 'crop_size', 'stride', 'crop_batch_size')},
                mean=mean, std=std, head=head_config(head_cfg),
                refiners=[head_config(cfg) for cfg in refiner_cfgs],
                template_set=model.template_set if isinstance(model.template_set, str)
                else list(model.template_set),
                weights_id=str(getattr(model.backbone, 'weights_id', '')))


QUANTIZE_CHOICES = ('none', 'int8', 'int8-static')


def quantize_int8(path: str) -> None:
    """Replace the float32 file at ``path`` by its dynamic int8 quantisation (onnxruntime's
    ``quantize_dynamic``: int8 per-channel weights of every MatMul / Gemm, activations
    quantised per call), written atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    rewrite_in_place(path, lambda source, target: quantize_dynamic(
        source, target, per_channel=True, weight_type=QuantType.QInt8))


def export_onnx(model: nn.Module, classnames: Sequence[str], out: str,
                size: tuple[int, int] | None = None, head_cfg: Mapping | None = None,
                quantize: str = 'none') -> str:
    """Export ``model``'s dense path for the vocabulary ``classnames`` to ``out``.

    Args:
        model: an exportable :class:`~ovperception.models.ov_model.OVModel` on the CPU.
        classnames: the vocabulary (entries may hold ``;`` synonyms).
        out: the ``.onnx`` file, written atomically.
        size: crop (H, W) of the graph; default the model's ``test_cfg.crop_size``.
        head_cfg: the head's config (stored to rebuild the post-processing); default the
            config ``init_model`` attached to the model, else the head's type with defaults.
        quantize: ``'none'`` (float32, the parity-checked graph), ``'int8'`` (dynamic int8
            weights, :func:`quantize_int8`: faster on CPUs, labels no longer identical) or
            ``'int8-static'`` (static int8 calibrated on structured images, the last
            block (its dense attention), softmax and head in float:
            :func:`~ovperception.deploy.static_quant.quantize_static_int8`).

    Returns:
        ``out``.
    """
    check_exportable(model)
    if quantize not in QUANTIZE_CHOICES:
        raise ExportError(f'quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}')
    if size is None:
        crop = model.test_cfg['crop_size']
        if model.test_cfg['mode'] != 'slide':
            raise ExportError("test_cfg.mode='whole' takes any image size: give --size HxW")
        size = (crop, crop) if isinstance(crop, int) else tuple(crop)
    model = model.eval().cpu()
    text = model.encode_vocabulary(list(classnames), device='cpu')
    graph = DenseGraph(model.backbone, model.head, text).eval()
    example = torch.zeros(2, 3, *size)
    batch = torch.export.Dim('n', min=1, max=4096)
    with torch.no_grad():
        program = torch.onnx.export(graph, (example,), input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},),
                                    dynamo=True, opset_version=OPSET, verbose=False)
    proto = program.model_proto
    config = getattr(model, 'cfg', None)  # init_model keeps it (with --cfg-options)
    if head_cfg is None:
        head_cfg = config.model.head if config is not None else dict(type=type(model.head))
    refiner_cfgs = (list(config.model.get('refiners') or ()) if config is not None else
                    [dict(type=type(refiner)) for refiner in model.refiners])
    meta = dict(export_metadata(model, text, classnames, size, head_cfg, refiner_cfgs),
                quantize=quantize)
    proto.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta))
    atomic_write_bytes(out, proto.SerializeToString())
    if quantize == 'int8':
        quantize_int8(out)
    elif quantize == 'int8-static':
        from ovperception.deploy.static_quant import quantize_static_int8
        quantize_static_int8(out, meta)
    return out


def read_export_metadata(path: str) -> dict:
    """The ``ovperception`` metadata of an exported file (ExportError if absent)."""
    import onnx
    proto = onnx.load_model(path, load_external_data=False)
    raw = next((p.value for p in proto.metadata_props if p.key == METADATA_KEY), None)
    return parse_metadata(raw, path)
