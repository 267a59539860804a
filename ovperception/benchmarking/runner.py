"""Benchmark any task model end to end on synthetic inputs, with a plain-backbone floor.

For each (image size, vocabulary size) the pipeline runs exactly as in ``predict``
(collate -> ``encode_images`` -> ``decode``) of OVModel (segmentation, counting,
detection), OVAnomalyModel or FCCLIP, timed stage by stage (see
:mod:`ovperception.benchmarking.adapters` for the split). The *floor* re-runs the
backbone's plain forward (``image_embedding``; FC-CLIP: ``multiscale_features``)
over exactly the crops, windows and batching the pipeline used, so
``pipeline / floor`` is the price of everything that is not the bare network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from ovperception.benchmarking.adapters import (Crops, check_benchmarkable, clear_image_caches,
                                                encoded_crops, floor_batch_size, floor_method,
                                                timed_stages)
from ovperception.benchmarking.measure import (Elapsed, PeakMemory, overhead_ratio, percentiles,
                                               timer)
from ovperception.models.inference import encode_windows
from ovperception.models.ov_model import autocast_encoder, channels_last_encoder
from ovperception.structures import OVDataSample


def synthetic_images(num: int, size: tuple[int, int], seed: int = 0) -> list[Tensor]:
    """``num`` random uint8 RGB images, each (3, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, *size), generator=generator, dtype=torch.uint8)
            for _ in range(num)]


def structured_images(num: int, size: tuple[int, int], seed: int = 0) -> list[Tensor]:
    """``num`` uint8 RGB images (3, H, W) with the structure of photos rather than noise:
    a smooth two-colour gradient, 4-11 flat-coloured rectangles and ellipses of various
    sizes (regions with edges), and mild sensor noise (std 6). Calibration and label
    agreement of quantised graphs use them: on uniform noise every patch looks alike and
    class scores are nearly tied, which no real image does."""
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    rows = torch.linspace(0, 1, height).view(height, 1)
    cols = torch.linspace(0, 1, width).view(1, width)
    images = []
    for _ in range(num):
        low, high = torch.rand(2, 3, 1, 1, generator=generator) * 255
        direction = torch.rand(2, generator=generator)
        ramp = (rows * direction[0] + cols * direction[1]) / direction.sum().clamp(min=1e-3)
        image = low + (high - low) * ramp
        for _ in range(int(torch.randint(4, 12, (1,), generator=generator))):
            top, left = torch.rand(2, generator=generator).tolist()
            extent_h, extent_w = (0.1 + 0.5 * torch.rand(2, generator=generator)).tolist()
            y0, x0 = int(top * height), int(left * width)
            y1, x1 = min(height, y0 + int(extent_h * height) + 1), \
                min(width, x0 + int(extent_w * width) + 1)
            colour = torch.rand(3, 1, 1, generator=generator) * 255
            if torch.rand(1, generator=generator) < 0.5:
                image[:, y0:y1, x0:x1] = colour
            else:  # the ellipse inscribed in the box
                ys = (torch.arange(y0, y1).view(-1, 1) + 0.5 - (y0 + y1) / 2) / ((y1 - y0) / 2)
                xs = (torch.arange(x0, x1).view(1, -1) + 0.5 - (x0 + x1) / 2) / ((x1 - x0) / 2)
                inside = (ys ** 2 + xs ** 2) <= 1
                region = image[:, y0:y1, x0:x1]
                image[:, y0:y1, x0:x1] = torch.where(inside, colour, region)
        image = image + 6 * torch.randn(3, height, width, generator=generator)
        images.append(image.round().clamp(0, 255).to(torch.uint8))
    return images


def synthetic_vocabulary(num_classes: int) -> list[str]:
    """``num_classes`` distinct class names; different sizes share no name (cold caches)."""
    return [f'synthetic class {num_classes}-{index}' for index in range(num_classes)]


def benchmark_vocabulary(model: nn.Module, vocab_size: int) -> list[str]:
    """The vocabulary of a case of ``vocab_size`` classes: for a closed-vocabulary model
    (``model.fixed_vocabulary``, e.g. a trained ExCEL) its first ``vocab_size`` classes,
    capped at their number (so the case reports the K actually used); else
    :func:`synthetic_vocabulary`."""
    fixed = getattr(model, 'fixed_vocabulary', None)
    if fixed:
        return list(fixed[:vocab_size])
    return synthetic_vocabulary(vocab_size)


def label_size(size: Sequence[int], label_scale: float = 1.0) -> tuple[int, int]:
    """The ``ori_shape`` whose labels an image of ``size`` produces: ``size * label_scale``."""
    return (max(1, round(size[0] * label_scale)), max(1, round(size[1] * label_scale)))


def make_batch(images: Sequence[Tensor], classnames: Sequence[str],
               label_scale: float = 1.0) -> dict:
    """A test-step batch ``dict(inputs, data_samples)`` with fresh samples.

    Args:
        label_scale: ``ori_shape`` = image size x this (1: labels at the working size; the
            ADE20K protocol resizes a 512-px short side to 336, i.e. about 1.52).
    """
    samples = [OVDataSample(metainfo=dict(
        classnames=list(classnames), ori_shape=label_size(img.shape[-2:], label_scale)))
        for img in images]
    return dict(inputs=list(images), data_samples=samples)


def floor_encoder(backbone: nn.Module, method: str | None = None) -> Callable[[Tensor], Tensor]:
    """The backbone's plain forward: ``method``, default ``image_embedding`` (else
    ``dense_features``)."""
    if method is not None:
        return getattr(backbone, method)
    return getattr(backbone, 'image_embedding', None) or backbone.dense_features


@dataclass
class StepTimes:
    """Seconds spent by one test step, by stage (wall clock), and its process CPU time."""

    preprocess: float
    backbone: float
    head: float
    refiners: float
    cpu: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.backbone + self.head + self.refiners


def timed_predict(model: nn.Module, batch: dict, device: torch.device
                  ) -> tuple[StepTimes, Crops]:
    """``model.test_step(batch)`` split into stages; also returns the crops it encoded.

    Backbone and refiner times are those spent inside their methods wherever the model
    calls them (see :func:`~ovperception.benchmarking.adapters.timed_stages`); the head is
    the rest of ``encode_images`` + ``decode``. Per-image caches (SAM embeddings) are
    cleared first: the warm-up must not make a timed image free.
    """
    clear_image_caches(model)
    with torch.no_grad(), timed_stages(model, device) as (backbone, refine):
        with timer(device) as collate:
            data = model.data_preprocessor(batch, False)
        with timer(device) as step:
            encoded = model.encode_images(data['inputs'], data['data_samples'])
            model.decode(encoded, data['data_samples'])
    head = max(0.0, step.seconds - backbone.seconds - refine.seconds)
    times = StepTimes(collate.seconds, backbone.seconds, head, refine.seconds,
                      cpu=collate.cpu_seconds + step.cpu_seconds)
    return times, encoded_crops(encoded, data['inputs'])


class Floor:
    """The plain backbone forward over a pipeline batch's crops (same windows and batching).

    Args:
        backbone: provides ``image_embedding`` (or ``dense_features``, or ``method``).
        crop_batch_size: windows per backbone call, as in the pipeline.
        device: where it runs (CUDA is synchronised around every timing).
        amp_dtype: the pipeline's ``test_cfg.amp_dtype`` (the floor runs at the same precision).
        channels_last: the pipeline's ``test_cfg.channels_last`` (same memory format).
    """

    def __init__(self, backbone: nn.Module, crop_batch_size: int, device: torch.device, *,
                 amp_dtype: str | None = None, channels_last: bool = False,
                 method: str | None = None) -> None:
        encode = autocast_encoder(floor_encoder(backbone, method), amp_dtype)
        self.encode = channels_last_encoder(encode) if channels_last else encode
        self.crop_batch_size = crop_batch_size
        self.device = device

    @classmethod
    def of(cls, model: nn.Module, device: torch.device, batch_size: int = 1) -> Floor:
        """The floor of ``model``'s backbone with its ``test_cfg`` batching and precision
        (``batch_size`` images per step: the batching of models that do not window)."""
        cfg = getattr(model, 'test_cfg', None) or {}
        return cls(model.backbone, floor_batch_size(model, batch_size), device,
                   amp_dtype=cfg.get('amp_dtype'), channels_last=cfg.get('channels_last', False),
                   method=floor_method(model))

    def __call__(self, crops: Crops) -> Elapsed:
        """Time one pass over ``crops`` = (images (3, H, W), their windows)."""
        with torch.no_grad(), timer(self.device) as elapsed:
            encode_windows(*crops, self.encode, self.crop_batch_size)
        return elapsed


def run_floor(backbone: nn.Module, crops: Sequence[Crops], crop_batch_size: int,
              device: torch.device, *, amp_dtype: str | None = None,
              channels_last: bool = False, warmup: int = 1) -> list[float]:
    """Wall seconds of the :class:`Floor` over each batch's crops, after ``warmup`` passes."""
    floor = Floor(backbone, crop_batch_size, device, amp_dtype=amp_dtype,
                  channels_last=channels_last)
    for _ in range(warmup):
        floor(crops[0])
    return [floor(batch).seconds for batch in crops]


def measure_text(model: nn.Module, classnames: Sequence[str], device: torch.device) -> dict:
    """Text-encoding cost of a first vocabulary (cold) and of asking for it again.

    Returns:
        dict with ``vocab_size``, ``templates``, ``names_encoded`` and ``prompts_encoded``
        (by the first call; 0 when an on-disk cache already held them), ``cold_s`` (first
        call), ``memo_s`` (same vocabulary again) and ``cached_names_s`` (the names
        reordered: a new vocabulary whose names are all in the cache). Models without a
        ``text_cache`` (OVAnomalyModel: the vocabulary is the object name, whose state
        prompts the head encodes) report None for ``templates`` and the counts.
    """
    cache = getattr(model, 'text_cache', None)
    before = cache.num_encoded_names if cache is not None else 0
    with timer(device) as cold:
        model.encode_vocabulary(classnames)
    encoded = cache.num_encoded_names - before if cache is not None else None
    with timer(device) as memo:
        model.encode_vocabulary(classnames)
    with timer(device) as names:
        model.encode_vocabulary(list(reversed(classnames)))
    templates = len(cache.templates) if cache is not None else None
    return dict(vocab_size=len(classnames), templates=templates, names_encoded=encoded,
                prompts_encoded=None if cache is None else encoded * templates,
                cold_s=cold.seconds, memo_s=memo.seconds,
                cached_names_s=names.seconds)


@dataclass
class CaseResult:
    """Per-image measurements of one (size, vocabulary size) case."""

    size: tuple[int, int]
    vocab_size: int
    batch_size: int
    crops_per_image: float
    steps: list[StepTimes] = field(default_factory=list)
    step_images: list[int] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    floor_cpu: list[float] = field(default_factory=list)
    memory: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready numbers: throughput, latency percentiles, per-image stage means."""
        num = sum(self.step_images)
        per_image = [step.total / n for step, n in zip(self.steps, self.step_images)
                     for _ in range(n)]
        total = sum(step.total for step in self.steps)

        def mean_ms(stage: str) -> float:
            return 1e3 * sum(getattr(step, stage) for step in self.steps) / num

        floor_total = sum(self.floor)
        return dict(
            size=list(self.size), vocab_size=self.vocab_size, images=num,
            batch_size=self.batch_size, crops_per_image=self.crops_per_image,
            throughput_img_s=num / total if total > 0 else float('inf'),
            latency_ms={k: 1e3 * v for k, v in
                        dict(percentiles(per_image), mean=total / num).items()},
            stages_ms=dict(preprocess=mean_ms('preprocess'), backbone=mean_ms('backbone'),
                           head=mean_ms('head'), refiners=mean_ms('refiners')),
            floor_ms=1e3 * floor_total / num,
            overhead_ratio=overhead_ratio(total, floor_total),
            cpu_overhead_ratio=overhead_ratio(sum(step.cpu for step in self.steps),
                                              sum(self.floor_cpu)),
            backbone_ratio=overhead_ratio(sum(s.backbone for s in self.steps), floor_total),
            memory=self.memory)


def run_case(model: nn.Module, size: tuple[int, int], classnames: Sequence[str], *,
             num_images: int, batch_size: int = 1, warmup: int = 1,
             device: torch.device | str = 'cpu', seed: int = 0,
             label_scale: float = 1.0) -> CaseResult:
    """Warm up, then time ``num_images`` synthetic images of ``size``, each batch followed
    at once by the floor over its crops (so both see the same machine load)."""
    device = torch.device(device)
    images = synthetic_images(num_images, size, seed)
    chunks = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    floor = Floor.of(model, device, batch_size)
    for _ in range(warmup):
        _, crops = timed_predict(model, make_batch(chunks[0], classnames, label_scale), device)
        floor(crops)
    case = CaseResult(tuple(size), len(classnames), batch_size, 0.0)
    num_crops = 0
    with PeakMemory(device) as memory:
        for chunk in chunks:
            times, crops = timed_predict(model, make_batch(chunk, classnames, label_scale), device)
            case.steps.append(times)
            case.step_images.append(len(chunk))
            num_crops += sum(len(w) for w in crops[1])
            floor_time = floor(crops)
            case.floor.append(floor_time.seconds)
            case.floor_cpu.append(floor_time.cpu_seconds)
            del crops
    case.memory = memory.as_dict()
    case.crops_per_image = num_crops / num_images
    return case


def run_benchmark(model: nn.Module, sizes: Sequence[tuple[int, int]], vocab_sizes: Sequence[int],
                  *, num_images: int, batch_size: int = 1, warmup: int = 1,
                  device: torch.device | str = 'cpu', seed: int = 0,
                  label_scale: float = 1.0, measure_text_cost: bool = True) -> dict:
    """Every (size, vocabulary size) case, plus the text cost of each vocabulary size
    (unless ``measure_text_cost`` is False: a model with a fixed vocabulary, e.g. ONNX).
    The vocabularies are :func:`benchmark_vocabulary`: a closed-vocabulary model's own
    classes, each size capped at their number (a size measured once).

    Returns:
        ``dict(text=[measure_text(...) per vocabulary size], results=[CaseResult.summary()
        per case])``.
    """
    if num_images < 1 or batch_size < 1 or warmup < 0:
        raise ValueError('need num_images >= 1, batch_size >= 1 and warmup >= 0')
    check_benchmarkable(model)
    model.eval()
    text, results, measured_sizes = [], [], set()
    for vocab_size in vocab_sizes:
        classnames = benchmark_vocabulary(model, vocab_size)
        if len(classnames) != vocab_size:
            print_log(f'K={vocab_size}: {type(model).__name__} predicts only the '
                      f'{len(classnames)} classes it was trained on; measuring '
                      f'K={len(classnames)}', logger='current')
        if len(classnames) in measured_sizes:
            continue
        measured_sizes.add(len(classnames))
        if measure_text_cost:
            text.append(measure_text(model, classnames, torch.device(device)))
            print_log(f'text: {text[-1]}', logger='current')
        for size in sizes:
            case = run_case(model, size, classnames, num_images=num_images,
                            batch_size=batch_size, warmup=warmup, device=device, seed=seed,
                            label_scale=label_scale)
            results.append(case.summary())
            print_log(f'{size[0]}x{size[1]} K={len(classnames)}: '
                      f'{results[-1]["throughput_img_s"]:.3f} img/s, '
                      f'x{results[-1]["overhead_ratio"]:.2f} of the floor', logger='current')
    return dict(text=text, results=results)
