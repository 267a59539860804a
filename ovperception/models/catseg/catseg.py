"""CAT-Seg (Cho et al., CVPR 2024): open-vocabulary semantic segmentation by cost
aggregation on a fine-tuned CLIP ViT, as released (cvlab-kaist/CAT-Seg).

Image side (vocabulary-independent, :meth:`CATSeg.encode_images`): the image (or each
sliding window) resized to the CLIP resolution, dense CLIP embeddings (released last-block
variant), and the outputs of two intermediate blocks upsampled x2 / x4 by transposed
convolutions as decoder guidance. Vocabulary side (:meth:`CATSeg.decode`): one text
embedding per class (first synonym, template "A photo of a {} in the scene"), the cost
volume and its aggregation (:class:`CostAggregator`) to per-class logits; sigmoid
probabilities, the released sliding-window protocol, argmax.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.catseg.clip_features import (attention_modules, catseg_image_features,
                                                      set_finetuned_parameters, split_qkv)
from ovperception.models.cfg_defaults import with_defaults
from ovperception.models.clip.text_encoding import encode_tokens_trimmed
from ovperception.models.clip.vocabulary import Vocabulary, split_synonyms
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                   takes_backbone_statistics)
from ovperception.models.modes import ModeDispatchMixin
from ovperception.models.ov_model import OVModel
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

#: The released prompt (``PROMPT_ENSEMBLE_TYPE: single``).
CATSEG_TEMPLATE = 'A photo of a {} in the scene'
IGNORE_INDEX = 255
#: prompts whose test-time embeddings are memoised (A-847 and more fit)
TEXT_MEMO_SIZE = 4096
DEFAULT_TEST_CFG = dict(mode='slide', kernel=384, overlap=0.333, out_size=(640, 640),
                        size_divisibility=384, class_chunk=None)


@dataclass
class CATSegFeatures:
    """Vocabulary-independent image side of one batch.

    Attributes:
        dense: per sample (V, C, h, w) CLIP embeddings of its V views (sliding windows and
            the global view last; one view in whole mode).
        guidance: per sample the two (V, C_i, h_i, w_i) decoder guidance maps.
    """

    dense: list[Tensor]
    guidance: list[list[Tensor]]


def _build(module: nn.Module | dict, **defaults: Any) -> nn.Module:
    return module if isinstance(module, nn.Module) else MODELS.build({**defaults, **module})


def window_starts(size: int, kernel: int, stride: int) -> list[int]:
    """Window origins of ``nn.Unfold(kernel, stride)`` along one side (no extra last one)."""
    return list(range(0, size - kernel + 1, stride))


@MODELS.register_module()
class CATSeg(ModeDispatchMixin, BaseModel):
    """CLIP ViT + cost aggregation; trains with per-class sigmoid BCE.

    Args:
        backbone: ``OpenCLIPBackbone`` config of an (OpenAI) CLIP ViT; built unfrozen, its
            trained parameters chosen by ``clip_finetune``.
        aggregator: :class:`CostAggregator` config (guidance dims default to the backbone's).
        guidance_layers: blocks whose outputs guide the decoder ((3, 7) ViT-B, (7, 15) ViT-L).
        clip_resolution: side every view is resized to (384 ViT-B/16, 336 ViT-L/14).
        clip_finetune: ``'attention'`` (released: q / v projections), ``'full'`` or ``'none'``.
        template: prompt template.
        synonyms: ``'first'`` (released: a class is its first name) or ``'all'`` (test time:
            every synonym is a class of the aggregation, each class takes the max over its
            names; the released PAS-20b protocol). Training always uses the first names.
        test_cfg: ``mode`` ``'slide'`` (released eval: resize to ``out_size``, ``kernel``
            windows with ``overlap`` plus the whole image at ``kernel``, sigmoid, windows
            averaged, then averaged with the global view) or ``'whole'`` (pad to
            ``size_divisibility``, one view); ``class_chunk``: classes per aggregator call
            (None = all at once; the class pre-selection needs all).
        data_preprocessor: default normalises with the backbone's statistics.
    """

    vocabulary_groups = staticmethod(OVModel.vocabulary_groups)

    def __init__(self, backbone: nn.Module | dict, aggregator: nn.Module | dict, *,
                 guidance_layers: Sequence[int] = (3, 7), clip_resolution: int = 384,
                 clip_finetune: str = 'attention', template: str = CATSEG_TEMPLATE,
                 synonyms: str = 'first',
                 decoder_guidance_dims: Sequence[int] = (256, 128),
                 test_cfg: dict | None = None, train_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None,
                 init_cfg: dict | None = None) -> None:
        stats_from_backbone = takes_backbone_statistics(data_preprocessor)
        if data_preprocessor is None:
            data_preprocessor = dict(type='ovperception.OVDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if isinstance(backbone, dict):
            backbone = MODELS.build({**backbone, 'frozen': False})
        self.backbone = backbone
        if getattr(self.backbone, 'kind', None) != 'vit':
            raise ValueError('CAT-Seg needs an open_clip ViT backbone (e.g. ViT-B-16, '
                             f'ViT-L-14-336), got a {getattr(self.backbone, "kind", "?")} tower')
        if stats_from_backbone:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        for attention in attention_modules(self.backbone.model):
            split_qkv(attention)
        self.trained_clip_parameters = set_finetuned_parameters(self.backbone.model, clip_finetune)
        depth = len(self.backbone.visual.transformer.resblocks)
        self.guidance_layers = tuple(int(i) for i in guidance_layers)
        if len(self.guidance_layers) != 2 or not all(0 <= i < depth - 1
                                                     for i in self.guidance_layers):
            raise ValueError(f'guidance_layers must be two blocks in [0, {depth - 2}], got '
                             f'{guidance_layers}')
        width = int(self.backbone.visual.transformer.width)
        embed = int(self.backbone.embed_dim)
        self.upsample1 = nn.ConvTranspose2d(width, decoder_guidance_dims[0], 2, stride=2)
        self.upsample2 = nn.ConvTranspose2d(width, decoder_guidance_dims[1], 4, stride=4)
        self.aggregator = _build(aggregator, type='ovperception.CostAggregator',
                                 text_guidance_dim=embed, appearance_guidance_dim=embed,
                                 decoder_guidance_dims=tuple(decoder_guidance_dims))
        self.clip_resolution = int(clip_resolution)
        grid = self.clip_resolution // int(self.backbone.patch_size)
        if tuple(self.aggregator.feature_resolution) != (grid, grid):
            raise ValueError(f'aggregator feature_resolution {self.aggregator.feature_resolution}'
                             f' != CLIP grid {grid}x{grid} at clip_resolution '
                             f'{self.clip_resolution}')
        self.template = template
        if synonyms not in ('first', 'all'):
            raise ValueError(f"synonyms must be 'first' or 'all', got {synonyms!r}")
        self.synonyms = synonyms
        self.test_cfg = with_defaults(test_cfg, DEFAULT_TEST_CFG, 'test_cfg')
        if self.test_cfg['mode'] not in ('slide', 'whole'):
            raise ValueError(f"test_cfg.mode must be 'slide' or 'whole', got "
                             f"{self.test_cfg['mode']!r}")
        if self.test_cfg['mode'] == 'slide':
            kernel = int(self.test_cfg['kernel'])
            stride = int(kernel * (1 - self.test_cfg['overlap']))
            for side in self.test_cfg['out_size']:
                if stride <= 0 or side < kernel or (side - kernel) % stride:
                    raise ValueError(
                        f'test_cfg: windows of {kernel} with stride {stride} (overlap '
                        f"{self.test_cfg['overlap']}) do not tile out_size "
                        f"{tuple(self.test_cfg['out_size'])}; released: 384, 0.333, 640")
        self.train_cfg = dict(train_cfg or {})
        self.background_words: tuple[str, ...] = ()
        self.shared_names = False
        self._text_memo: OrderedDict[str, Tensor] = OrderedDict()
        self._register_load_state_dict_pre_hook(lambda *_: self._text_memo.clear())

    @property
    def is_trainable(self) -> bool:
        """Whether any parameter would receive a gradient."""
        return any(p.requires_grad for p in self.parameters())

    # ------------------------------------------------------------------ text
    def class_names(self, classnames: Sequence[str]) -> tuple[list[str], Tensor]:
        """The names the aggregator sees and the (N,) class of each: the first synonym of
        every class (released ``get_text_embeds``), or at test time with
        ``synonyms='all'`` every synonym (a class then scores the max over its names, as
        the released PAS-20b protocol merges its extra background words)."""
        Vocabulary.parse(list(classnames))  # empty / duplicate vocabularies fail clearly
        every = self.synonyms == 'all' and not self.training
        names, owner = [], []
        for index, entry in enumerate(classnames):
            words = split_synonyms(entry)
            names.extend(words if every else words[:1])
            owner.extend([index] * (len(words) if every else 1))
        return names, torch.tensor(owner)

    def class_prompts(self, classnames: Sequence[str]) -> list[str]:
        """The prompt of every name of :meth:`class_names`."""
        return [self.template.format(name) for name in self.class_names(classnames)[0]]

    def text_embeddings(self, classnames: Sequence[str]) -> Tensor:
        """(K, C) L2-normalised class embeddings of the (fine-tuned) text tower; with
        gradient while training; at test time each prompt is encoded once and memoised
        (any order or mix of vocabularies reuses it; training steps and loaded weights,
        which change the text tower, drop the memo)."""
        prompts = self.class_prompts(classnames)
        device = self.upsample1.weight.device
        if self.training:
            tokens = self.backbone.tokenizer(prompts).to(device)
            return encode_tokens_trimmed(self.backbone.model, tokens)
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_memo]
        if missing:
            tokens = self.backbone.tokenizer(missing).to(device)
            with torch.no_grad():
                encoded = encode_tokens_trimmed(self.backbone.model, tokens)
            self._text_memo.update(zip(missing, encoded))
        for prompt in prompts:
            self._text_memo.move_to_end(prompt)
        while len(self._text_memo) > TEXT_MEMO_SIZE:
            self._text_memo.popitem(last=False)
        return torch.stack([self._text_memo[p] for p in prompts])

    def encode_vocabulary(self, classnames: Sequence[str]) -> Tensor:
        """(K, C) class embeddings (validates the vocabulary; the demo calls it before any
        image is read)."""
        return self.text_embeddings(list(classnames))

    # ------------------------------------------------------------------ image
    def view_features(self, views: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(V, 3, S, S) normalised views -> (V, C, h, w) embeddings and the two decoder
        guidance maps (V, 256, 2h, 2w), (V, 128, 4h, 4w) (ViT-B sizes)."""
        size = (self.clip_resolution, self.clip_resolution)
        if tuple(views.shape[-2:]) != size:
            views = F.interpolate(views, size=size, mode='bilinear', align_corners=False)
        dense, (mid, late) = catseg_image_features(self.backbone, views, self.guidance_layers)
        return dense, [self.upsample1(mid), self.upsample2(late)]

    def sample_views(self, image: Tensor) -> Tensor:
        """(3, H, W) normalised image -> (V, 3, k, k) views of the test protocol."""
        cfg = self.test_cfg
        if cfg['mode'] == 'whole':
            divisor = int(cfg['size_divisibility'])
            height, width = image.shape[-2:]
            pad = (0, -width % divisor, 0, -height % divisor)
            return F.pad(image, pad)[None]
        kernel, (out_h, out_w) = int(cfg['kernel']), tuple(cfg['out_size'])
        stride = int(kernel * (1 - cfg['overlap']))
        resized = F.interpolate(image[None], size=(out_h, out_w), mode='bilinear',
                                align_corners=False)[0]
        windows = [resized[:, y:y + kernel, x:x + kernel]
                   for y in window_starts(out_h, kernel, stride)
                   for x in window_starts(out_w, kernel, stride)]
        whole = F.interpolate(image[None], size=(kernel, kernel), mode='bilinear',
                              align_corners=False)[0]
        return torch.stack(windows + [whole])

    @torch.no_grad()
    def encode_images(self, inputs: Tensor, data_samples: SampleList | None = None
                      ) -> CATSegFeatures:
        """The vocabulary-independent part (``OVPredictor`` answers many vocabularies per
        image at the cost of one)."""
        dense, guidance = [], []
        for index in range(inputs.shape[0]):
            image = inputs[index].float()
            if data_samples is not None:
                height, width = data_samples[index].metainfo.get('img_shape',
                                                                 image.shape[-2:])[:2]
                image = image[:, :height, :width]
            features, maps = self.view_features(self.sample_views(image))
            dense.append(features)
            guidance.append(maps)
        return CATSegFeatures(dense, guidance)

    # ------------------------------------------------------------------ vocabulary side
    def class_logits(self, dense: Tensor, guidance: Sequence[Tensor], text: Tensor) -> Tensor:
        """(V, C, h, w) embeddings, guidance, (K, C) text -> (V, K, 4h, 4w) logits."""
        chunk = self.test_cfg['class_chunk'] if not self.training else None
        views = dense.shape[0]
        if not chunk:
            return self.aggregator(dense, text[None, :, None].expand(views, -1, -1, -1),
                                   [dense, *guidance])
        parts = [self.aggregator(dense, part[None, :, None].expand(views, -1, -1, -1),
                                 [dense, *guidance]) for part in text.split(int(chunk))]
        return torch.cat(parts, dim=1)

    def combine_views(self, logits: Tensor, sample: OVDataSample) -> Tensor:
        """(V, K, k', k') view logits -> (K, H_ori, W_ori) probabilities, as released:
        whole mode takes the sigmoid before resizing; slide mode resizes each view to the
        window size, then takes the sigmoid."""
        ori = tuple(sample.metainfo.get('ori_shape', logits.shape[-2:])[:2])
        cfg = self.test_cfg
        if cfg['mode'] == 'whole':
            return F.interpolate(logits.sigmoid(), size=ori, mode='bilinear',
                                 align_corners=False)[0]
        kernel, (out_h, out_w) = int(cfg['kernel']), tuple(cfg['out_size'])
        stride = int(kernel * (1 - cfg['overlap']))
        probs = F.interpolate(logits, size=(kernel, kernel), mode='bilinear',
                              align_corners=False).sigmoid()
        total = probs.new_zeros(probs.shape[1], out_h, out_w)
        count = probs.new_zeros(1, out_h, out_w)
        views = iter(probs[:-1])
        for y in window_starts(out_h, kernel, stride):
            for x in window_starts(out_w, kernel, stride):
                total[:, y:y + kernel, x:x + kernel] += next(views)
                count[:, y:y + kernel, x:x + kernel] += 1
        whole = F.interpolate(probs[-1:], size=(out_h, out_w), mode='bilinear',
                              align_corners=False)[0]
        merged = (total / count + whole) / 2
        return F.interpolate(merged[None], size=ori, mode='bilinear', align_corners=False)[0]

    @torch.no_grad()
    def decode(self, encoded: CATSegFeatures, data_samples: SampleList) -> list[OVDataSample]:
        """Per-class probabilities and ``pred_sem_seg`` (argmax) at ``ori_shape``;
        ``seg_logits`` holds the (K, H, W) probabilities."""
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.text_embeddings(classnames)
            owner = self.class_names(classnames)[1]
            for index in indices:
                sample = data_samples[index]
                logits = self.class_logits(encoded.dense[index], encoded.guidance[index], text)
                probs = self.combine_views(logits.float(), sample)
                owner = owner.to(probs.device)
                if len(owner) != len(classnames):
                    probs = torch.stack([probs[owner == k].amax(0)
                                         for k in range(len(classnames))])
                if not bool(torch.isfinite(probs).all()):
                    raise FloatingPointError(
                        f'non-finite predictions for {sample.metainfo.get("img_path", "a sample")}'
                        ': check the weights (a NaN checkpoint?) and the input image')
                sample.seg_logits = PixelData(data=probs)
                sample.pred_sem_seg = PixelData(data=probs.argmax(0)[None])
                sample.set_metainfo(dict(label_names=list(classnames)))
        return list(data_samples)

    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Semantic predictions at each sample's ``ori_shape``."""
        return self.decode(self.encode_images(inputs, data_samples), data_samples)

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """Released loss: logits resized (bilinear) to the crop, sigmoid BCE against one-hot
        targets, averaged over every pixel and class (ignored pixels: all-zero targets)."""
        self._text_memo.clear()
        dense, guidance = self.view_features(inputs)
        target = torch.stack([s.gt_sem_seg.data[0] for s in data_samples]).long()
        target = target.to(inputs.device)
        total = inputs.new_zeros(())
        for classnames, indices in self.vocabulary_groups(data_samples).items():
            text = self.text_embeddings(classnames)
            logits = self.class_logits(dense[indices], [g[indices] for g in guidance], text)
            logits = F.interpolate(logits, size=target.shape[-2:], mode='bilinear',
                                   align_corners=False)
            labels = target[indices]
            valid = labels != IGNORE_INDEX
            if bool((labels[valid] >= len(classnames)).any()):
                raise ValueError(f'a label exceeds the {len(classnames)} classes of the '
                                 'vocabulary')
            onehot = torch.zeros_like(logits)
            onehot.scatter_(1, labels.clamp(0, len(classnames) - 1)[:, None], 1.0)
            onehot = onehot * valid[:, None]
            loss = F.binary_cross_entropy_with_logits(logits, onehot)
            total = total + loss * (len(indices) / len(data_samples))
        return dict(loss_sem_seg=total)

    def _forward(self, inputs: Tensor, data_samples: SampleList | None = None) -> Any:
        """Tensor mode: image-side features of the batch (no vocabulary needed)."""
        return self.view_features(inputs)
