"""OVModel: frozen CLIP backbone + task head (+ refiners), vocabulary per sample."""
from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn

from ovperception.models.clip.text_cache import TextEmbeddingCache
from ovperception.models.clip.vocabulary import (TextEmbeddings, Vocabulary,
                                                 background_words_without_classes)
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                 takes_backbone_statistics)
from ovperception.models.inference import (Window, encode_windows, sliding_windows, stitch_lazily,
                                           stitch_windows)
from ovperception.models.region_windows import attach_region_ids, encode_region_windows
from ovperception.models.stitched import StitchedWindows
from ovperception.models.modes import ModeDispatchMixin
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

DEFAULT_TEST_CFG = dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16)
AMP_DTYPES: dict[str | None, torch.dtype | None] = {
    None: None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
VocabularyKey = tuple[str, ...]
EncodeFn = Callable[[Tensor], Tensor]


def _build(module: nn.Module | dict | None) -> nn.Module | None:
    if module is None or isinstance(module, nn.Module):
        return module
    return MODELS.build(module)


def autocast_encoder(encode: EncodeFn, amp_dtype: str | None) -> EncodeFn:
    """``encode`` run under ``torch.autocast`` in ``amp_dtype``, its output cast back to float32.

    Args:
        encode: (n, 3, h, w) -> (n, ...) image encoder (e.g. ``dense_features``).
        amp_dtype: ``'bf16'`` (CPU and GPU), ``'fp16'`` (GPU) or None (``encode`` itself).
    """
    dtype = AMP_DTYPES[amp_dtype]
    if dtype is None:
        return encode

    def encode_autocast(crops: Tensor) -> Tensor:
        with torch.autocast(crops.device.type, dtype=dtype):
            output = encode(crops)
        return output.float()

    return encode_autocast


def channels_last_encoder(encode: EncodeFn) -> EncodeFn:
    """``encode`` fed (n, 3, h, w) crops in channels-last memory format (same values)."""

    def encode_channels_last(crops: Tensor) -> Tensor:
        return encode(crops.contiguous(memory_format=torch.channels_last))

    return encode_channels_last


class CompiledOrEager:
    """``torch.compile(fn)``, built on the first call; eager ``fn`` (with a warning) if it fails.

    Compilation is lazy (``torch.compile`` itself only fails at the first call on many
    set-ups), so both building and the first compiled call are guarded; after one
    failure every later call runs eagerly.
    """

    def __init__(self, fn: EncodeFn) -> None:
        self.fn = fn
        self.compiled: EncodeFn | None = None
        self.failed = False

    def __call__(self, inputs: Tensor) -> Tensor:
        if self.failed:
            return self.fn(inputs)
        try:
            if self.compiled is None:
                self.compiled = torch.compile(self.fn)
            return self.compiled(inputs)
        except Exception as error:  # any compiler/backend failure: run eagerly
            self.failed = True
            warnings.warn(f'torch.compile of the backbone failed ({type(error).__name__}: '
                          f'{error}); running it eagerly', RuntimeWarning, stacklevel=2)
            return self.fn(inputs)


@dataclass
class EncodedImages:
    """Backbone features of every window of a batch, reusable across vocabularies.

    Attributes:
        image_sizes: per image, its (H, W) working size (padding removed).
        windows: per image, its sliding windows.
        features: per image, per window, a (C, h', w') feature map.
        images: per image, the (3, H, W) input (for refiners): normalised float, or uint8
            0..255 RGB when :meth:`OVModel.encode_images` got uint8 inputs.
        conditioned: features of a text-conditioned backbone (ResCLIP), computed when a
            vocabulary asks for them: ``{(image index, vocabulary): per-window features}``
            (``features`` then holds empty lists).
        regions: per image, its (H0, W0) region ids at ``ori_shape`` (region-conditioned
            backbones: CorrCLIP), put on the decoded samples as ``region_ids``.
    """

    image_sizes: list[tuple[int, int]]
    windows: list[list[Window]]
    features: list[list[Tensor]]
    images: list[Tensor]
    conditioned: dict = field(default_factory=dict)
    regions: list[Tensor] = field(default_factory=list)


def background_words_for(classnames: Sequence[str],
                         background_words: Sequence[str]) -> tuple[str, ...]:
    """The model's background words minus those the vocabulary names as classes.

    A class the user names wins over a configured background word (e.g. ``sky`` among a
    detection config's scene words); a warning names the config key to change.
    """
    kept, dropped = background_words_without_classes(classnames, background_words)
    if dropped:
        print_log(f'background words {list(dropped)} of the config (model.background_words) '
                  'are also class names of the vocabulary: they are scored as classes, not as '
                  f'background; the background words used are {list(kept)}. Change them with '
                  '--background-words "w1, w2" (demo) or --cfg-options '
                  'model.background_words="[...]"', logger='current', level=logging.WARNING)
    return kept


def add_group_losses(totals: dict[str, Tensor], losses: Mapping[str, Tensor],
                     weight: float) -> None:
    """Add one vocabulary group's ``losses``, times ``weight`` (its share of the batch),
    to the running ``totals`` in place."""
    for name, value in losses.items():
        totals[name] = totals.get(name, 0) + value * weight


#: Feature values per head call when decoding (the head works per window, so batches change
#: nothing): the stacked batch and the head's temporaries stay a few MiB whatever the image
#: (all 3,750 windows of a 3.8-MP image at once added ~6 bytes a pixel to the peak).
HEAD_BATCH_ELEMENTS = 1 << 20


@MODELS.register_module()
class OVModel(ModeDispatchMixin, BaseModel):
    """Image + vocabulary -> frozen CLIP dense features -> head -> refiners -> samples.

    The vocabulary is data: each sample carries ``classnames`` in its metainfo.
    Samples sharing a vocabulary are grouped, and every (weights, template set,
    name) triple is encoded once per model (and once per machine with
    ``text_cache_dir``).

    Args:
        backbone: an ``OpenCLIPBackbone`` (or config) providing ``dense_features``,
            ``encode_text``, ``patch_size``, ``logit_scale`` and ``weights_id``.
        head: a :class:`BaseOVHead` (or config).
        data_preprocessor: config of the batch collator; without explicit ``mean``/``std``
            it normalises with the backbone's statistics (those of its weights).
        refiners: optional refiners applied in order after the head.
        template_set: prompt templates ('single', 'imagenet80', 'vild14' or a list).
        background_words: names scored like classes that mean background.
        text_cache_dir: folder for the on-disk text-embedding cache (None: memory only).
        shared_names: accept vocabularies in which a name belongs to several classes (a tie
            goes to the first class), as an official class-name file may have.
        vocabulary_selector: chooses an image's vocabulary when the user gives none
            (e.g. :class:`~ovperception.models.vocabulary_free.CaSEDVocabulary`).
        test_cfg: ``mode`` ('slide' | 'whole'; 'whole' runs each image in one piece, the
            usual choice for ConvNeXt/ResNet CLIPs, which take any input size), ``crop_size``,
            ``stride``, ``crop_batch_size`` (windows of all images of a batch share backbone
            calls), ``amp_dtype`` (None | 'bf16' | 'fp16': backbone under ``torch.autocast``,
            features back in float32), ``compile`` (bool: ``torch.compile`` the backbone's
            ``dense_features`` on first use, eager with a warning if that fails) and
            ``channels_last`` (bool: crops and the backbone's conv weights in channels-last
            memory format; pays off for ConvNeXt/ResNet towers on GPUs, see
            docs/benchmarks.md).
    """

    def __init__(self, backbone: nn.Module | dict, head: nn.Module | dict, *,
                 data_preprocessor: dict | nn.Module | None = None,
                 refiners: Sequence[nn.Module | dict] = (),
                 template_set: str | Sequence[str] = 'imagenet80',
                 background_words: Sequence[str] = (),
                 text_cache_dir: str | None = None,
                 shared_names: bool = False,
                 vocabulary_selector: nn.Module | dict | None = None,
                 test_cfg: dict | None = None,
                 train_cfg: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        stats_from_backbone = takes_backbone_statistics(data_preprocessor)
        if data_preprocessor is None:
            data_preprocessor = dict(type='ovperception.OVDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = _build(backbone)
        if stats_from_backbone:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        self.head = _build(head)
        if hasattr(self.head, 'bind_image_encoder'):  # heads re-encoding crops (detection)
            self.head.bind_image_encoder(self.encode_crops)
        if hasattr(self.head, 'bind_backbone'):  # heads finishing the backbone's tokens (Trident)
            self.head.bind_backbone(self.backbone)
        self.refiners = nn.ModuleList([_build(r) for r in refiners])
        self.template_set = template_set
        self.background_words = tuple(background_words)
        self.text_cache_dir = text_cache_dir
        self.shared_names = bool(shared_names)
        self.vocabulary_selector = _build(vocabulary_selector)
        self.test_cfg = self._check_test_cfg({**DEFAULT_TEST_CFG, **(test_cfg or {})})
        self.train_cfg = dict(train_cfg or {})
        self._text_cache: TextEmbeddingCache | None = None
        self._vocab_memo: OrderedDict[VocabularyKey, TextEmbeddings] = OrderedDict()
        self._compiled_dense: CompiledOrEager | None = None

    @staticmethod
    def _check_test_cfg(cfg: dict) -> dict:
        known = {'mode', 'crop_size', 'stride', 'crop_batch_size', 'amp_dtype', 'compile',
                 'channels_last'}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f'unknown test_cfg keys {sorted(unknown)}; valid keys: {sorted(known)}')
        if cfg['mode'] not in ('slide', 'whole'):
            raise ValueError(f"test_cfg.mode must be 'slide' or 'whole', got {cfg['mode']!r}")
        if cfg.get('amp_dtype') not in AMP_DTYPES:
            raise ValueError(f"test_cfg.amp_dtype must be one of {list(AMP_DTYPES)}, "
                             f"got {cfg['amp_dtype']!r}")
        for flag in ('compile', 'channels_last'):
            if not isinstance(cfg.get(flag, False), bool):
                raise ValueError(f'test_cfg.{flag} must be a bool, got {cfg[flag]!r}')
        return cfg

    # ------------------------------------------------------------------ text
    @property
    def text_cache(self) -> TextEmbeddingCache:
        """The text-embedding cache of this model (built on first use)."""
        if self._text_cache is None:
            # A backbone may ask for another prompt ensemble (Talk2DINO: the raw mean).
            ensemble = dict(getattr(self.backbone, 'text_ensemble', {}))
            self._text_cache = TextEmbeddingCache(
                self.backbone.encode_text, self.backbone.weights_id, self.template_set,
                cache_dir=self.text_cache_dir, **ensemble)
        return self._text_cache

    def encode_vocabulary(self, classnames: Sequence[str],
                          device: torch.device | str | None = None) -> TextEmbeddings:
        """Embeddings of one vocabulary (memoised; names come from the cache).

        Args:
            classnames: K entries, each possibly holding ``';'``-separated synonyms.
            device: where the embeddings should live; the memo keeps the moved copy, so
                a vocabulary is copied to a device once, not once per batch.
        """
        key: VocabularyKey = tuple(classnames)
        if key in self._vocab_memo:
            self._vocab_memo.move_to_end(key)
            text = self._vocab_memo[key]
        else:
            # A head may encode each class as several sentences (e.g. count-bin prompts).
            prompts = getattr(getattr(self, 'head', None), 'vocabulary_prompts', None)
            names = prompts(list(classnames)) if prompts is not None else list(classnames)
            vocabulary = Vocabulary.parse(names, background_words_for(names, self.background_words),
                                          shared_names=self.shared_names)
            with torch.no_grad():
                embeddings = self.text_cache.embed(vocabulary.names)
            text = TextEmbeddings(vocabulary, embeddings,
                                  torch.tensor(vocabulary.name_to_class, dtype=torch.long),
                                  float(self.backbone.logit_scale))
        if device is not None and text.embeddings.device != torch.device(device):
            text = text.to(device)
        self._vocab_memo[key] = text
        while len(self._vocab_memo) > 32:
            self._vocab_memo.popitem(last=False)
        return text

    @staticmethod
    def vocabulary_groups(data_samples: SampleList) -> dict[VocabularyKey, list[int]]:
        """Indices of the samples sharing each distinct vocabulary, in first-seen order."""
        groups: dict[VocabularyKey, list[int]] = {}
        for index, sample in enumerate(data_samples):
            classnames = sample.metainfo.get('classnames')
            if not classnames:
                raise ValueError(
                    f'sample {index} ({sample.metainfo.get("img_path", "in memory")}) has no '
                    'vocabulary: set metainfo "classnames" (a dataset classnames_file, or --vocab)')
            groups.setdefault(tuple(classnames), []).append(index)
        return groups

    # ---------------------------------------------------------------- images
    @staticmethod
    def unpad(inputs: Tensor, data_samples: SampleList | None) -> list[Tensor]:
        """Split a padded (B, 3, H, W) batch into B (3, h_i, w_i) images."""
        if data_samples is None:
            return list(inputs)
        images = []
        for image, sample in zip(inputs, data_samples):
            height, width = sample.metainfo.get('img_shape', image.shape[-2:])[:2]
            images.append(image[:, :height, :width])
        return images

    def encode_images(self, inputs: Tensor, data_samples: SampleList | None = None) -> EncodedImages:
        """Run the backbone on every window of every image (the expensive part).

        Args:
            inputs: (B, 3, H, W) normalised, padded batch; or uint8 0..255 RGB, normalised a
                batch of windows at a time (a huge image never exists as float32: 4x less
                memory; the predictor passes uint8).
            data_samples: samples with ``img_shape`` (defaults to the padded size).
        """
        images = self.unpad(inputs, data_samples)
        cfg = self.test_cfg
        if cfg['mode'] == 'whole':
            windows = [[(0, 0, img.shape[-2], img.shape[-1])] for img in images]
        else:
            windows = [sliding_windows(img.shape[-2], img.shape[-1], cfg['crop_size'],
                                       cfg['stride']) for img in images]
        sizes = [tuple(img.shape[-2:]) for img in images]
        if self.text_conditioned:  # features depend on the vocabulary: made in decode
            return EncodedImages(sizes, windows, [[] for _ in images], images)
        if getattr(self.backbone, 'region_conditioned', False):  # CorrCLIP: crops + region ids
            uint8 = inputs.dtype == torch.uint8
            with torch.no_grad():
                features, regions = encode_region_windows(
                    self.backbone, images, windows, data_samples,
                    lambda img: img.float() if uint8 else self.data_preprocessor.denormalize(img),
                    lambda fn: self._window_encoder(fn, uint8), cfg['crop_batch_size'])
            return EncodedImages(sizes, windows, features, images, regions=regions)
        encode = self._window_encoder(self._dense_encoder(), inputs.dtype == torch.uint8)
        with torch.no_grad():
            features = encode_windows(images, windows, encode, cfg['crop_batch_size'])
        return EncodedImages(sizes, windows, features, images)

    @property
    def fixed_vocabulary(self) -> list[str] | None:
        """The only classes this model predicts (a trained closed-vocabulary head, e.g.
        ExCEL's segmenter), else None: any vocabulary."""
        return None

    @property
    def text_conditioned(self) -> bool:
        """Whether the backbone's dense features depend on the vocabulary (ResCLIP's semantic
        feedback): they are then computed per (image, vocabulary) when decoding."""
        return bool(getattr(self.backbone, 'text_conditioned', False))

    def _window_encoder(self, encode: EncodeFn, uint8_inputs: bool) -> EncodeFn:
        """``encode`` under ``test_cfg.amp_dtype``, normalising uint8 windows first."""
        encode = autocast_encoder(encode, self.test_cfg.get('amp_dtype'))
        if uint8_inputs:
            dense_encode, normalize = encode, self.data_preprocessor.normalize_batch
            encode = lambda crops: dense_encode(normalize(crops))  # noqa: E731
        return encode

    def window_features(self, encoded: EncodedImages, index: int,
                        text: TextEmbeddings) -> list[Tensor]:
        """Per-window (C, h', w') features of image ``index`` (for ``text`` when the backbone
        is text-conditioned: encoded once per image and vocabulary, then kept)."""
        if not self.text_conditioned:
            return encoded.features[index]
        key = (index, tuple(text.vocabulary.names))
        if key not in encoded.conditioned:
            image = encoded.images[index]
            encode = self._window_encoder(
                lambda crops: self.backbone.dense_features(crops, text=text),
                image.dtype == torch.uint8)
            with torch.no_grad():
                encoded.conditioned[key] = encode_windows(
                    [image], [encoded.windows[index]], encode,
                    self.test_cfg['crop_batch_size'])[0]
        return encoded.conditioned[key]

    def _dense_encoder(self) -> EncodeFn:
        """The backbone's ``dense_features``: compiled lazily when ``test_cfg.compile``,
        fed channels-last crops when ``test_cfg.channels_last``."""
        encode: EncodeFn = self.backbone.dense_features
        if self.test_cfg.get('compile', False):
            if self._compiled_dense is None:
                self._compiled_dense = CompiledOrEager(self.backbone.dense_features)
            encode = self._compiled_dense
        if self.test_cfg.get('channels_last', False):
            self.backbone.to(memory_format=torch.channels_last)  # conv weights; no-op when done
            return channels_last_encoder(encode)
        return encode

    def decode(self, encoded: EncodedImages, data_samples: SampleList) -> list[OVDataSample]:
        """Head outputs for every sample's own vocabulary, stitched and post-processed.

        The head runs once per image on all its windows; the window outputs are
        stitched lazily (:class:`~ovperception.models.stitched.StitchedWindows`) and
        handed to heads with ``takes_stitched_windows`` as they are, to the others
        as (D, H, W) tensors.
        """
        head_images = getattr(self.head, 'uses_images', False)
        lazy = getattr(self.head, 'takes_stitched_windows', False)
        with torch.no_grad():
            # Image-aware heads and refiners see 0..255 RGB images at the working resolution.
            rgb = ([img.float() if img.dtype == torch.uint8 else
                    self.data_preprocessor.denormalize(img) for img in encoded.images]
                   if head_images or len(self.refiners) else [])
            device = encoded.images[0].device
            for classnames, indices in self.vocabulary_groups(data_samples).items():
                text = self.encode_vocabulary(classnames, device=device)
                outputs = []
                for index in indices:
                    stitched = self.stitched_output(encoded, index, text)
                    outputs.append(stitched if lazy else stitched.dense())
                group = [data_samples[i] for i in indices]
                if head_images:
                    self.head.predict(outputs, text, group, images=[rgb[i] for i in indices])
                else:
                    self.head.predict(outputs, text, group)
            samples = list(data_samples)
            attach_region_ids(samples, encoded.regions)
            for refiner in self.refiners:
                samples = refiner.refine(rgb, samples)
        return samples

    def encode_crops(self, crops: Tensor) -> Tensor:
        """(n, 3, S, S) RGB 0..255 crops -> (n, C) normalised global CLIP embeddings."""
        mean, std = self.data_preprocessor.mean, self.data_preprocessor.std
        with torch.no_grad():
            return self.backbone.image_embedding((crops - mean.to(crops)) / std.to(crops))

    def stitched_output(self, encoded: EncodedImages, index: int,
                        text: TextEmbeddings) -> StitchedWindows:
        """The head's output on every window of image ``index`` (one head call), stitched.

        Raises:
            FloatingPointError: on NaN or infinite head outputs.
        """
        features = self.window_features(encoded, index, text)
        if len({tuple(feat.shape) for feat in features}) == 1:
            # in batches: no stacked copy of every window's features (0.2 GB at 108 MP)
            batch = max(1, HEAD_BATCH_ELEMENTS // max(1, features[0].numel()))
            window_outputs = torch.cat([
                self.head(torch.stack(features[start:start + batch]), text)
                for start in range(0, len(features), batch)])
        else:  # windows of different sizes (custom windows): one head call each
            window_outputs = [self.head(feat[None], text)[0] for feat in features]
        if not all(bool(torch.isfinite(out).all()) for out in window_outputs):
            raise FloatingPointError(
                f'non-finite values in the dense output of sample {index}: '
                'check the weights (a NaN checkpoint?) and the input image')
        stride, centred = self.grid_placement()
        if isinstance(window_outputs, list):
            return StitchedWindows.from_dense(stitch_windows(
                window_outputs, encoded.windows[index], encoded.image_sizes[index], stride,
                centred))
        return stitch_lazily(window_outputs, encoded.windows[index],
                             encoded.image_sizes[index], stride, centred)

    def grid_placement(self) -> tuple[int | None, bool]:
        """How each window's dense output lies on the window: (stride or None, centred).

        The head's ``output_stride`` when it has one (e.g. count blocks), else the
        backbone's ``grid_placement`` (a ViT's patch grid: padded bottom/right, padded on
        both sides, or a floor grid stretched over the window), else its ``patch_size``.
        """
        head_stride = getattr(self.head, 'output_stride', None)
        if head_stride:
            return head_stride, False
        placement = getattr(self.backbone, 'grid_placement', None)
        if placement is not None:
            return placement
        return getattr(self.backbone, 'patch_size', None), False

    # ----------------------------------------------------------------- modes
    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Fill ``pred_*`` fields of every sample (batch of any size and vocabularies)."""
        return self.decode(self.encode_images(inputs, data_samples), data_samples)

    def dense_features(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, C, h, w); no gradient through a frozen backbone."""
        if any(p.requires_grad for p in self.backbone.parameters()):
            return self.backbone.dense_features(inputs)
        with torch.no_grad():
            return self.backbone.dense_features(inputs)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """Head losses, each vocabulary group weighted by its number of samples."""
        if not self.is_trainable:
            raise RuntimeError(
                f'{type(self.head).__name__} with a frozen backbone has no trainable parameters: '
                'this is a training-free model; evaluate it with tools/test.py')
        feats = self.dense_features(inputs)
        totals: dict[str, Tensor] = {}
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.encode_vocabulary(classnames, device=inputs.device)
            losses = self.head.loss(feats[indices], text, [data_samples[i] for i in indices])
            add_group_losses(totals, losses, len(indices) / len(data_samples))
        return totals

    def _forward(self, inputs: Tensor, data_samples: SampleList | None = None) -> Tensor:
        """Raw head output on the whole (padded) batch, for one shared vocabulary.

        Returns:
            (B, D, h, w) dense head output.
        """
        if not data_samples:
            raise ValueError('tensor mode needs data samples carrying "classnames"')
        groups = self.vocabulary_groups(data_samples)
        if len(groups) != 1:
            raise ValueError('tensor mode needs one vocabulary shared by the whole batch')
        text = self.encode_vocabulary(next(iter(groups)), device=inputs.device)
        return self.head(self.dense_features(inputs), text)


    @property
    def is_trainable(self) -> bool:
        """Whether any parameter would receive a gradient."""
        return any(p.requires_grad for p in self.parameters())
