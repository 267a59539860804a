"""How the benchmark splits any ovperception model into backbone / head / refiners / floor.

Every task model follows one contract: ``data_preprocessor`` -> ``encode_images(inputs,
data_samples)`` -> ``decode(encoded, data_samples)`` with a frozen ``backbone``
(``OVModel`` for segmentation, counting and detection; ``OVAnomalyModel``; ``FCCLIP``).
Stage times are taken by wrapping methods, wherever the model calls them:

* backbone: the backbone's image methods (:data:`BACKBONE_IMAGE_METHODS`), outermost call only;
* refiners: every refiner's ``refine``, every ``SAMWrapper`` image / prompt method, also
  when a head owns the SAM (Trident, zero-shot counting, SAM proposals), and every
  ``DenseCRF`` a model owns (ExCEL's CRF post-processing; the wall time of its workers);
* head: the rest of ``encode_images`` + ``decode`` (windowing, head, stitching, text lookup).

The floor is the backbone's plain forward (:func:`floor_method`) over the crops the
pipeline encoded: OVModel's sliding / whole windows, else each image of the batch whole.
"""
from __future__ import annotations

import contextlib
import types
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ovperception.benchmarking.measure import Elapsed, timer
from ovperception.models.stitched import Window

Crops = tuple[list[Tensor], list[list[Window]]]  # (unpadded images, their windows) of a batch

BACKBONE_IMAGE_METHODS = ('image_embedding', 'dense_features', 'dense_features_with_attention',
                          'dense_intermediates', 'window_embeddings', 'global_and_dense_features',
                          'multiscale_features', 'vit_tokens', 'block_maps_and_dense',
                          'dense_intermediates_and_embedding')
#: Functions outside the backbone class that run the backbone's blocks themselves (the module
#: that calls them, name): AnomalyCLIP's DPAM forward runs every ViT block, so it is backbone
#: time; so is ExCEL's CLIP-surgery forward.
BACKBONE_FUNCTIONS = (('ovperception.models.anomaly.heads', 'dpam_features'),
                      ('ovperception.models.catseg.catseg', 'catseg_image_features'),
                      ('ovperception.models.segmentation.excel', 'surgery_forward'))
SAM_METHODS = ('set_image', 'image_features', 'predict', 'automatic_masks')
#: A DenseCRF owned by a model (ExCEL's ``segmenter_cfg.crf``): its wall time, on its worker
#: processes or in this one, is refiner time.
DENSE_CRF_METHODS = ('map', 'forward')
PIPELINE_METHODS = ('data_preprocessor', 'encode_images', 'decode', 'backbone')


class NotBenchmarkableError(TypeError):
    """The model does not follow the encode_images / decode contract the harness times."""


def check_benchmarkable(model: nn.Module) -> None:
    """Raise :class:`NotBenchmarkableError` naming what ``model`` lacks."""
    missing = [name for name in PIPELINE_METHODS if not hasattr(model, name)]
    if not missing and not hasattr(model.backbone, floor_method(model)):
        missing = [f'backbone.{floor_method(model)}']
    if missing:
        raise NotBenchmarkableError(
            f'tools/benchmark.py cannot time {type(model).__name__}: it lacks '
            f'{", ".join(missing)}. The harness times models with data_preprocessor, '
            'encode_images(inputs, data_samples), decode(encoded, data_samples) and a backbone '
            'with image_embedding (OVModel, OVAnomalyModel) or multiscale_features (FCCLIP).')


def floor_method(model: nn.Module) -> str:
    """Name of the backbone method that is the floor: the trunk's multi-scale features for
    models that consume them (FC-CLIP), else ``image_embedding`` (else ``dense_features``)."""
    if hasattr(model, 'backbone_features'):
        return 'multiscale_features'
    backbone = getattr(model, 'backbone', None)
    return 'image_embedding' if hasattr(backbone, 'image_embedding') else 'dense_features'


def floor_batch_size(model: nn.Module, num_images: int) -> int:
    """Crops per floor call: ``test_cfg.crop_batch_size`` where the model batches windows,
    else the whole batch at once (as FC-CLIP and the anomaly model run it)."""
    return int((getattr(model, 'test_cfg', None) or {}).get('crop_batch_size') or num_images)


def encoded_crops(encoded: Any, inputs: Tensor | Sequence[Tensor]) -> Crops:
    """The crops the pipeline encoded: ``encoded.images`` / ``.windows`` (OVModel; an image
    without windows, as ExCEL's, is one whole window), else each image of the (padded) batch
    as one whole window."""
    if hasattr(encoded, 'windows') and hasattr(encoded, 'images'):
        images = list(encoded.images)
        return images, [list(windows) or [whole_window(image)]  # ExCEL keeps no windows
                        for image, windows in zip(images, encoded.windows)]
    images = list(inputs)
    return images, [[whole_window(image)] for image in images]


def whole_window(image: Tensor) -> Window:
    """The window covering a whole (3, H, W) image."""
    return (0, 0, int(image.shape[-2]), int(image.shape[-1]))


def _owned_refiner_methods(model: nn.Module) -> list[tuple[object, str]]:
    targets: list[tuple[object, str]] = [(r, 'refine') for r in getattr(model, 'refiners', ())]
    from ovperception.models.refiners.dense_crf import DenseCRF  # refiners import models
    from ovperception.models.refiners.sam import SAMWrapper
    for module in model.modules():
        if isinstance(module, SAMWrapper):
            targets += [(module, name) for name in SAM_METHODS if hasattr(module, name)]
        elif isinstance(module, DenseCRF):  # e.g. ExCEL's segmenter_cfg.crf
            targets += [(module, name) for name in DENSE_CRF_METHODS]
    return targets


def _backbone_methods(model: nn.Module) -> list[tuple[object, str]]:
    import importlib
    return [(model.backbone, name) for name in BACKBONE_IMAGE_METHODS
            if callable(getattr(model.backbone, name, None))] + [
        (importlib.import_module(module), name) for module, name in BACKBONE_FUNCTIONS]


@contextlib.contextmanager
def timed_methods(targets: Sequence[tuple[object, str]],
                  device: torch.device) -> Iterator[Elapsed]:
    """Accumulate the time spent in ``obj.name(...)`` for every target while the block runs;
    nested calls among the targets count once (only the outermost is timed)."""
    total, depth = Elapsed(), [0]

    def wrap(method: Callable) -> Callable:
        def timed(*args, **kwargs):
            if depth[0]:
                return method(*args, **kwargs)
            depth[0] += 1
            try:
                with timer(device) as elapsed:
                    result = method(*args, **kwargs)
            finally:
                depth[0] -= 1
            total.seconds += elapsed.seconds
            total.cpu_seconds += elapsed.cpu_seconds
            return result
        return timed

    patched = []
    for obj, name in targets:
        is_module = isinstance(obj, types.ModuleType)  # a module function: patch its global
        if name in vars(obj) and not is_module:  # already an instance attribute: leave it
            continue
        original = getattr(obj, name)
        setattr(obj, name, wrap(original))
        patched.append((obj, name, original if is_module else None))
    try:
        yield total
    finally:
        for obj, name, original in patched:
            if original is not None:
                setattr(obj, name, original)  # the module's own function again
            else:
                delattr(obj, name)  # the instance attribute; the class method shows again


@contextlib.contextmanager
def timed_stages(model: nn.Module, device: torch.device) -> Iterator[tuple[Elapsed, Elapsed]]:
    """(backbone, refiners) time accumulators of ``model`` while the block runs."""
    with timed_methods(_backbone_methods(model), device) as backbone, \
            timed_methods(_owned_refiner_methods(model), device) as refiners:
        yield backbone, refiners


def clear_image_caches(model: nn.Module) -> None:
    """Drop per-image caches (``SAMWrapper``'s image embeddings) so that every timed step pays
    for its image, as a new image would, even when the warm-up saw the same pixels."""
    for module in model.modules():
        if callable(getattr(module, 'clear_cache', None)):
            module.clear_cache()
