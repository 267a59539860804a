"""Run an exported dense graph (onnxruntime or OpenVINO) inside OVModel's windows and
stitching."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ovperception.deploy.onnx_files import ExportError
from ovperception.deploy.runtimes import GraphRunner, open_graph
from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.models.inference import stitch_lazily
from ovperception.models.stitched import StitchedWindows
from ovperception.registry import MODELS


class ONNXGraph(nn.Module):
    """The exported graph in the place of a backbone: ``dense_features(crops)`` returns the
    head's dense output computed by the runtime.

    Args:
        runner: the exported file opened by a runtime
            (:func:`~ovperception.deploy.runtimes.open_graph`).
        floor_backbone: a PyTorch backbone whose ``image_embedding`` is the benchmark floor
            (``tools/benchmark.py --runtime onnx|openvino``); None elsewhere.
    """

    def __init__(self, runner: GraphRunner, floor_backbone: nn.Module | None = None) -> None:
        super().__init__()
        metadata = runner.metadata
        self.runner = runner
        self.input_size = tuple(metadata['input_size'])
        self.patch_size = int(metadata['output_stride'])
        self.mean = tuple(float(m) for m in metadata['mean'])
        self.std = tuple(float(s) for s in metadata['std'])
        self.weights_id = f"{runner.runtime}:{metadata.get('weights_id', '')}"
        self.logit_scale = float(metadata['logit_scale'])
        self.floor_backbone = floor_backbone

    def dense_features(self, crops: Tensor) -> Tensor:
        """(n, 3, H, W) normalised crops (the exported H, W) -> (n, D, h, w) head output."""
        if tuple(crops.shape[-2:]) != self.input_size:
            raise ValueError(f'the ONNX graph takes {self.input_size[0]}x{self.input_size[1]} '
                             f'crops, got {crops.shape[-2]}x{crops.shape[-1]}: export with '
                             '--size for this size (images smaller than the crop make smaller '
                             'windows)')
        array = np.ascontiguousarray(crops.detach().float().cpu().numpy())
        return torch.from_numpy(self.runner.run(array))

    def image_embedding(self, images: Tensor) -> Tensor:
        """The PyTorch floor backbone's global embedding (benchmark floor only)."""
        if self.floor_backbone is None:
            raise AttributeError('no PyTorch backbone attached (floor_backbone=None)')
        return self.floor_backbone.image_embedding(images)


class ONNXDenseModel(OVModel):
    """An OVModel whose windows run through an exported ONNX graph (fixed vocabulary).

    Windows, batching, stitching and the head's post-processing are OVModel's own code;
    the graph replaces backbone + head ``forward``. PAMR (the head's ``score_refiner`` or a
    ``PAMRRefiner`` of the model) runs in PyTorch on the stitched output, as in the PyTorch
    model. Only the exported vocabulary can be asked for.

    Args:
        path: ``.onnx`` file written by :func:`~ovperception.deploy.export_onnx`.
        runtime: ``'onnx'`` (onnxruntime) or ``'openvino'``
            (:data:`~ovperception.deploy.runtimes.RUNTIMES`).
        providers: onnxruntime execution providers (default CPU).
        threads: intra-op threads of the runtime (default: its default).
        ort_level: onnxruntime graph optimisation level (default ``'all'``).
        floor_backbone: see :class:`ONNXGraph`.
    """

    def __init__(self, path: str, *, runtime: str = 'onnx',
                 providers: tuple[str, ...] = ('CPUExecutionProvider',),
                 threads: int | None = None, ort_level: str = 'all',
                 floor_backbone: nn.Module | None = None) -> None:
        runner = open_graph(path, runtime, threads, providers, ort_level)
        meta = runner.metadata
        super().__init__(backbone=ONNXGraph(runner, floor_backbone),
                         head=MODELS.build(meta['head']), template_set=meta['template_set'],
                         refiners=meta.get('refiners', ()),
                         background_words=meta['background_words'], test_cfg=meta['test_cfg'])
        self.metadata = meta
        vocabulary = Vocabulary.parse(meta['classnames'], self.background_words)
        if len(vocabulary.names) != meta['num_names']:
            raise ExportError(f'{path}: metadata vocabulary does not match the graph')
        # The embeddings live in the graph; post-processing needs only names and classes.
        self.text = TextEmbeddings(vocabulary, torch.zeros(len(vocabulary.names), 0),
                                   torch.tensor(vocabulary.name_to_class, dtype=torch.long),
                                   meta['logit_scale'])

    @property
    def classnames(self) -> list[str]:
        """The exported vocabulary."""
        return list(self.metadata['classnames'])

    def encode_vocabulary(self, classnames, device=None) -> TextEmbeddings:
        """The exported vocabulary's names and classes; any other vocabulary is an error."""
        if list(classnames) != self.classnames:
            shown = ', '.join(self.classnames[:5]) + (', ...' if len(self.classnames) > 5 else '')
            raise ValueError(f'this ONNX model was exported for another vocabulary '
                             f'({len(self.classnames)} classes: {shown}); export again with '
                             '--vocab for this one')
        return self.text

    def stitched_output(self, encoded: EncodedImages, index: int,
                        text: TextEmbeddings) -> StitchedWindows:
        """The graph already ran the head on every window: stitch its outputs."""
        outputs = torch.stack(encoded.features[index])
        if not bool(torch.isfinite(outputs).all()):
            raise FloatingPointError(f'non-finite values in the ONNX output of sample {index}')
        return stitch_lazily(outputs, encoded.windows[index], encoded.image_sizes[index],
                             self.backbone.patch_size)

    def loss(self, inputs: Tensor, data_samples) -> dict[str, Tensor]:
        """An exported graph is for inference only."""
        raise RuntimeError('ONNXDenseModel is inference-only')
