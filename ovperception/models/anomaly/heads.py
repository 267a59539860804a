"""Anomaly heads: training-free WinCLIP / AnoVL and AnomalyCLIP's learnable prompts.

An anomaly head does not follow :class:`BaseOVHead` (its text side is a pair of
*state* embeddings per object, and it needs the global embedding and masked
window passes of the backbone); its contract, used by :class:`OVAnomalyModel`:

* ``encode(backbone, images) -> AnomalyFeatures``: every image-side tensor the head
  needs (run once per image, reusable across object names);
* ``text_embeddings(backbone, object_name) -> (2, C)``: [normal, anomalous];
* ``score(features, text) -> (maps (B, h, w), image_scores (B,))`` in [0, 1];
* ``loss(backbone, images, samples) -> {'loss_*': ...}`` (trainable heads only).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.anomaly.dpam import dpam_features
from ovperception.models.anomaly.losses import dice_loss, focal_loss
from ovperception.models.anomaly.window_scores import (harmonic_fusion, harmonic_patch_scores,
                                                       memory_distance, window_indices)
from ovperception.models.anomaly.prompts import (ANOMALOUS_STATES, NORMAL_STATES,
                                                 TEXTURE_NAMES, state_prompt_templates)
from ovperception.models.clip.prompt_learning import encode_text_with_prompts
from ovperception.models.clip.text_cache import TextEmbeddingCache
from ovperception.registry import MODELS
from ovperception.structures import SampleList


TEXT_AVERAGES = ('unnormalised', 'normalised')


@dataclass
class AnomalyFeatures:
    """Image-side features of a batch (all L2-normalised along C).

    Attributes:
        grid: (h, w) patch grid.
        global_embedding: (B, C) image embeddings.
        patch_maps: per layer / scale, (B, C, h, w) patch embeddings.
        windows: window size -> ((N, k) patch indices, (B, N, C) window embeddings).
    """

    grid: tuple[int, int]
    global_embedding: Tensor
    patch_maps: list[Tensor] = field(default_factory=list)
    windows: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)

    def select(self, indices: Sequence[int]) -> AnomalyFeatures:
        """The features of a subset of the batch."""
        idx = torch.as_tensor(list(indices), dtype=torch.long,
                              device=self.global_embedding.device)
        return AnomalyFeatures(self.grid, self.global_embedding[idx],
                               [m[idx] for m in self.patch_maps],
                               {k: (w, e[idx]) for k, (w, e) in self.windows.items()})


def two_state_probability(embeddings: Tensor, text: Tensor, temperature: float) -> Tensor:
    """Softmax over [normal, anomalous] similarities, anomalous probability.

    Args:
        embeddings: (..., C) normalised embeddings.
        text: (2, C) normalised [normal, anomalous] text embeddings.
        temperature: softmax temperature (0.07 in WinCLIP and AnomalyCLIP).

    Returns:
        (...) probabilities of the anomalous state.
    """
    logits = embeddings @ text.T / temperature
    return logits.softmax(dim=-1)[..., 1]


def _normalise_map(feature_map: Tensor) -> Tensor:
    return F.normalize(feature_map, dim=1)


@MODELS.register_module()
class WinCLIPHead(nn.Module):
    """Training-free WinCLIP (and AnoVL-style) anomaly scoring with state prompts.

    Zero-shot map: harmonic fusion of the scales in use: the windows of each size in
    ``window_sizes`` (each window's anomalous probability spread onto its patches by a
    harmonic mean), the dense patch tokens of the backbone's ``dense_mode`` when
    ``use_patch_scale`` (value-value attention paths give AnoVL's local tokens), and the
    image-level score broadcast to every patch (WinCLIP fuses it in).
    Image score: ``(1 - max_weight) * global score + max_weight * max(map)``.

    Few-shot (WinCLIP+): after :meth:`set_memory` with features of k normal images,
    patches and windows also get ``min (1 - cos) / 2`` to the memory; the few-shot map
    (mean over scales) is averaged with the zero-shot map, and its maximum with the
    image score.

    Args:
        template_set: ``'winclip'`` (the reimplementations' 21 templates), ``'anovl'``
            (AnoVL's domain-aware object templates) or a list.
        texture_template_set: templates for objects named in ``texture_names`` (AnoVL:
            ``'anovl_texture'``); None: ``template_set`` for every object.
        text_average: ``'unnormalised'`` (mean of raw text embeddings, then normalised: as
            anomalib, Accurate-WinCLIP and AnoVL) or ``'normalised'`` (mean of L2-normalised
            embeddings, CLIP's ImageNet recipe).
        texture_names: object names that use ``texture_template_set``.
        window_sizes: window sides in patches (WinCLIP: 2 and 3 on a 15x15 grid).
        use_patch_scale: add the dense patch tokens as a scale.
        fuse_image_score: include the global score in the harmonic fusion.
        temperature: softmax temperature of the two-state classification.
        max_weight: weight of the map's maximum in the image score.
        normal_states, anomalous_states: state phrases with one ``{}``.
    """

    trainable = False

    def __init__(self, template_set: str | Sequence[str] = 'winclip',
                 window_sizes: Sequence[int] = (2, 3), use_patch_scale: bool = False,
                 fuse_image_score: bool = True, temperature: float = 0.07,
                 max_weight: float = 0.0, normal_states: Sequence[str] = NORMAL_STATES,
                 anomalous_states: Sequence[str] = ANOMALOUS_STATES, *,
                 texture_template_set: str | Sequence[str] | None = None,
                 text_average: str = 'unnormalised',
                 texture_names: Sequence[str] = TEXTURE_NAMES) -> None:
        super().__init__()
        if not window_sizes and not use_patch_scale:
            raise ValueError('WinCLIPHead needs window_sizes and/or use_patch_scale=True')
        if not 0.0 <= max_weight <= 1.0:
            raise ValueError(f'max_weight must be in [0, 1], got {max_weight}')
        if text_average not in TEXT_AVERAGES:
            raise ValueError(f'text_average must be one of {TEXT_AVERAGES}, got '
                             f'{text_average!r}')
        self.text_average = text_average
        self.normal_templates, self.anomalous_templates = state_prompt_templates(
            template_set, normal_states, anomalous_states)
        self.texture_templates = None if texture_template_set is None else \
            state_prompt_templates(texture_template_set, normal_states, anomalous_states)
        self.texture_names = frozenset(texture_names)
        self.window_sizes = tuple(int(s) for s in window_sizes)
        self.use_patch_scale = use_patch_scale
        self.fuse_image_score = fuse_image_score
        self.temperature = float(temperature)
        self.max_weight = float(max_weight)
        self._caches: dict[tuple[str, str], tuple[TextEmbeddingCache, TextEmbeddingCache]] = {}
        self.memory: AnomalyFeatures | None = None

    # ------------------------------------------------------------------ text
    def text_embeddings(self, backbone: nn.Module, object_name: str) -> Tensor:
        """(2, C) [normal, anomalous] prompt-ensemble embeddings, L2-normalised (each
        computed once; averaged as ``text_average`` says)."""
        texture = self.texture_templates is not None and object_name in self.texture_names
        key = (backbone.weights_id, 'texture' if texture else 'object')
        if key not in self._caches:
            templates = self.texture_templates if texture else (self.normal_templates,
                                                                self.anomalous_templates)
            raw_mean = self.text_average == 'unnormalised'
            encode = partial(backbone.encode_text, normalize=not raw_mean)
            self._caches[key] = tuple(
                TextEmbeddingCache(encode, backbone.weights_id, t, normalise_each=not raw_mean)
                for t in templates)
        normal, anomalous = self._caches[key]
        return torch.cat([normal.embed([object_name]), anomalous.embed([object_name])])

    # ----------------------------------------------------------------- image
    def encode(self, backbone: nn.Module, images: Tensor,
               with_patches: bool | None = None) -> AnomalyFeatures:
        """Global embedding, window embeddings and (when used) the dense patch map (no grad).

        Args:
            with_patches: run ``dense_features`` too; default: when the patch scale or the
                few-shot memory needs it (an extra ViT pass otherwise saved).
        """
        if with_patches is None:
            with_patches = self.use_patch_scale or self.memory is not None
        patch_size = backbone.patch_size
        grid = (-(-images.shape[-2] // patch_size), -(-images.shape[-1] // patch_size))
        with torch.no_grad():
            if with_patches:
                global_embedding, _, dense = backbone.global_and_dense_features(images)
                patches = [_normalise_map(dense)]
            else:
                global_embedding, patches = backbone.image_embedding(images), []
            windows = {}
            for size in self.window_sizes:
                indices = window_indices(grid, size)
                windows[size] = (indices, backbone.window_embeddings(images, indices))
        return AnomalyFeatures(grid, global_embedding, patches, windows)

    @staticmethod
    def check_memory(features: AnomalyFeatures) -> None:
        """Raise unless ``features`` can serve as a few-shot memory (patch features)."""
        if not features.patch_maps:
            raise ValueError('few-shot references need patch features: encode them with '
                             'with_patches=True (OVAnomalyModel.set_normal_references does)')

    def set_memory(self, features: AnomalyFeatures) -> None:
        """Keep the patch and window embeddings of normal reference images (WinCLIP+)."""
        self.check_memory(features)
        self.memory = features

    def clear_memory(self) -> None:
        """Back to zero-shot scoring."""
        self.memory = None

    # ----------------------------------------------------------------- score
    def score(self, features: AnomalyFeatures, text: Tensor,
              memory: AnomalyFeatures | None = None) -> tuple[Tensor, Tensor]:
        """Anomaly maps (B, h, w) on the patch grid and image scores (B,).

        Args:
            memory: few-shot references for these images (default: :attr:`memory`).
        """
        memory = self.memory if memory is None else memory
        text = text.to(features.global_embedding.device)
        image_scores = two_state_probability(features.global_embedding, text, self.temperature)
        scales = []
        for size in self.window_sizes:
            indices, embeddings = features.windows[size]
            window_scores = two_state_probability(embeddings, text, self.temperature)
            scales.append(harmonic_patch_scores(window_scores, indices, features.grid))
        if self.use_patch_scale:
            patch = features.patch_maps[0].permute(0, 2, 3, 1)
            scales.append(two_state_probability(patch, text, self.temperature))
        if self.fuse_image_score:
            scales.append(image_scores.view(-1, 1, 1).expand_as(scales[0]))
        maps = harmonic_fusion(scales)
        if memory is not None:
            few_shot = self._few_shot_map(features, memory)
            maps = (maps + few_shot) / 2
            image_scores = (image_scores + few_shot.flatten(1).max(dim=1).values) / 2
        if self.max_weight > 0:
            image_scores = ((1 - self.max_weight) * image_scores
                            + self.max_weight * maps.flatten(1).max(dim=1).values)
        return maps, image_scores

    def _few_shot_map(self, features: AnomalyFeatures, memory: AnomalyFeatures) -> Tensor:
        if memory.grid != features.grid:
            raise ValueError(f'few-shot references have a {memory.grid} patch grid but the '
                             f'images a {features.grid} one: use the same input size')
        if not features.patch_maps:
            raise ValueError('these images were encoded before the few-shot references were '
                             'set: encode them again')
        patch = features.patch_maps[0].flatten(2).transpose(1, 2)
        bank = memory.patch_maps[0].flatten(2).transpose(1, 2).reshape(-1, patch.shape[-1])
        scales = [memory_distance(patch, bank).view(-1, *features.grid)]
        for size in self.window_sizes:
            indices, embeddings = features.windows[size]
            window_bank = memory.windows[size][1].reshape(-1, embeddings.shape[-1])
            scales.append(harmonic_patch_scores(memory_distance(embeddings, window_bank),
                                                indices, features.grid))
        return torch.stack(scales).mean(dim=0)

    def loss(self, backbone: nn.Module, images: Tensor, data_samples: SampleList) -> dict:
        raise RuntimeError('WinCLIPHead is training-free: evaluate it with tools/test.py')


#: AnomalyCLIP's released layer set: ``--features_list 24`` in its ``train.sh`` / ``test.sh``
#: (the released prompt checkpoints and logged results), i.e. the last block of ViT-L/14.
ANOMALYCLIP_RELEASED_LAYERS: tuple[int, ...] = (23,)
#: ``test.py``'s argparse default ``[6, 12, 18, 24]`` (blocks 6/12/18/24 of ViT-L/14): maps
#: averaged over four layers. An option, not the release (docs/fidelity.md gives its effect).
ANOMALYCLIP_FOUR_LAYERS: tuple[int, ...] = (5, 11, 17, 23)


@MODELS.register_module()
class AnomalyCLIPHead(nn.Module):
    """AnomalyCLIP: object-agnostic learnable text prompts on a frozen CLIP.

    Text: ``[V1..Vn] object.`` and ``[W1..Wn] damaged object.`` with learnable context
    vectors, plus deep prompt tokens replacing positions 1..``deep_n_ctx`` at the input of
    text blocks 1..``deep_depth - 1``. Image (as released, :mod:`.dpam`): DPAM's value-value
    path in the last ``dpam_blocks`` ViT blocks beside the original path; patch tokens after
    the blocks in ``feature_layers`` (0-based; from the v-v path inside the DPAM blocks), each
    through ``ln_post`` and the projection; the image embedding is the original path's class
    token projected without ``ln_post`` (``global_ln_post=False``).
    Per layer the anomalous probability ``softmax(cos / T)`` is computed; the map is the
    mean over layers (AnomalyCLIP sums ``(p_abn + 1 - p_norm) / 2`` = ``p_abn``, i.e. ``L``
    times ours: every metric and the Gaussian smoothing are invariant to that factor).
    Image score: the global embedding's anomalous probability.

    Loss: ``local_loss_weight`` (AnomalyCLIP's lambda = 4) times the sum over layers of focal
    (label smoothing ``focal_smooth``) + dice (anomalous map vs. mask and normal map vs.
    1 - mask) on maps upsampled to the image size, plus ``image_loss_weight`` times the
    cross-entropy of the image score vs. label.

    Args:
        n_ctx: learnable context tokens per prompt (12).
        deep_depth: text blocks receiving prompts (9: the input + 8 deep layers).
        deep_n_ctx: deep prompt tokens per layer (4).
        feature_layers: 0-based ViT blocks whose patch tokens give maps; the release uses
            the last block only (:data:`ANOMALYCLIP_RELEASED_LAYERS`, ``(23,)``);
            :data:`ANOMALYCLIP_FOUR_LAYERS` ``(5, 11, 17, 23)`` is ``test.py``'s default.
        dpam_blocks: last ViT blocks with DPAM's v-v path (official ``DPAM_layer=20`` = 19
            blocks); 0: plain intermediate tokens.
        global_ln_post: apply ``ln_post`` to the class token (the release does not).
        temperature: softmax temperature (0.07).
        text_width: text-tower width (checked against the backbone at first use).
        image_loss_weight: weight of the image-level cross-entropy (1).
        local_loss_weight: weight of focal + dice (AnomalyCLIP's lambda = 4).
        focal_smooth: focal-loss label smoothing (1e-5 in AnomalyCLIP's ``FocalLoss``).
    """

    trainable = True

    def __init__(self, n_ctx: int = 12, deep_depth: int = 9, deep_n_ctx: int = 4,
                 feature_layers: Sequence[int] = ANOMALYCLIP_RELEASED_LAYERS,
                 dpam_blocks: int = 19,
                 global_ln_post: bool = False, temperature: float = 0.07,
                 text_width: int = 768, image_loss_weight: float = 1.0,
                 local_loss_weight: float = 4.0, focal_smooth: float = 1e-5) -> None:
        super().__init__()
        if deep_n_ctx > n_ctx:
            raise ValueError(f'deep_n_ctx ({deep_n_ctx}) must not exceed n_ctx ({n_ctx})')
        self.n_ctx, self.deep_n_ctx = int(n_ctx), int(deep_n_ctx)
        self.feature_layers = tuple(int(i) for i in feature_layers)
        if dpam_blocks < 0:
            raise ValueError(f'dpam_blocks must be >= 0, got {dpam_blocks}')
        self.dpam_blocks = int(dpam_blocks)
        self.global_ln_post = bool(global_ln_post)
        self.temperature = float(temperature)
        self.image_loss_weight = float(image_loss_weight)
        self.local_loss_weight = float(local_loss_weight)
        self.focal_smooth = float(focal_smooth)
        self.normal_ctx = nn.Parameter(torch.randn(n_ctx, text_width) * 0.02)
        self.anomalous_ctx = nn.Parameter(torch.randn(n_ctx, text_width) * 0.02)
        self.deep_prompts = nn.Parameter(torch.randn(max(deep_depth - 1, 0), deep_n_ctx,
                                                     text_width) * 0.02)
        self._tokens: Tensor | None = None
        self._text_memo: tuple[tuple, Tensor] | None = None

    def prompts(self) -> list[str]:
        """The two prompt strings with ``X`` placeholders for the learnable tokens."""
        placeholder = ' '.join(['X'] * self.n_ctx)
        return [f'{placeholder} object.', f'{placeholder} damaged object.']

    def _prompt_tokens(self, backbone: nn.Module) -> Tensor:
        if self._tokens is None:
            tokens = backbone.tokenizer(self.prompts())
            width = backbone.model.token_embedding.weight.shape[1]
            if width != self.normal_ctx.shape[1]:
                raise ValueError(f'AnomalyCLIPHead(text_width={self.normal_ctx.shape[1]}) but the '
                                 f'backbone text tower has width {width}: set text_width={width}')
            self._tokens = tokens
        return self._tokens.to(self.normal_ctx.device)

    def text_embeddings(self, backbone: nn.Module, object_name: str = 'object') -> Tensor:
        """(2, C) [normal, anomalous] embeddings (object-agnostic: the name is not used).

        Without gradients the result is memoised until a prompt parameter changes (an
        optimiser step or a loaded checkpoint bumps the parameters' versions).
        """
        params = (self.normal_ctx, self.anomalous_ctx, self.deep_prompts)
        key = tuple((p._version, p.data_ptr(), p.device) for p in params)
        if not torch.is_grad_enabled() and self._text_memo and self._text_memo[0] == key:
            return self._text_memo[1]
        tokens = self._prompt_tokens(backbone)
        context = torch.stack([self.normal_ctx, self.anomalous_ctx])
        text = encode_text_with_prompts(backbone.model, tokens, context, list(self.deep_prompts))
        if not torch.is_grad_enabled():
            self._text_memo = (key, text)
        return text

    def encode(self, backbone: nn.Module, images: Tensor,
               with_patches: bool | None = None) -> AnomalyFeatures:
        """Global embedding and projected patch tokens of ``feature_layers`` with DPAM
        (no grad; ``with_patches`` is accepted for the model's few-shot interface)."""
        with torch.no_grad():
            global_embedding, maps = dpam_features(backbone, images, self.feature_layers,
                                                   self.dpam_blocks, self.global_ln_post)
            maps = [_normalise_map(m) for m in maps]
        return AnomalyFeatures((maps[0].shape[-2], maps[0].shape[-1]), global_embedding, maps)

    def layer_probabilities(self, features: AnomalyFeatures, text: Tensor) -> list[Tensor]:
        """Per layer, (B, h, w) anomalous probabilities."""
        text = text.to(features.global_embedding.device)
        return [two_state_probability(m.permute(0, 2, 3, 1), text, self.temperature)
                for m in features.patch_maps]

    def score(self, features: AnomalyFeatures, text: Tensor) -> tuple[Tensor, Tensor]:
        """Anomaly maps (B, h, w) and image scores (B,)."""
        maps = torch.stack(self.layer_probabilities(features, text)).mean(dim=0)
        image_scores = two_state_probability(features.global_embedding,
                                             text.to(maps.device), self.temperature)
        return maps, image_scores

    def loss(self, backbone: nn.Module, images: Tensor, data_samples: SampleList) -> dict:
        """lambda * (focal + dice) summed over layers on (B, H, W) masks, CE on labels."""
        masks, labels = anomaly_targets(data_samples, images.shape[-2:], images.device)
        features = self.encode(backbone, images)
        text = self.text_embeddings(backbone)
        focal = dice = images.new_zeros(())
        for prob in self.layer_probabilities(features, text):
            prob = F.interpolate(prob[:, None], size=masks.shape[-2:], mode='bilinear',
                                 align_corners=False)[:, 0].clamp(0, 1)
            two = torch.stack([1 - prob, prob], dim=1)
            focal = focal + focal_loss(two, masks.long(), smooth=self.focal_smooth)
            dice = dice + dice_loss(prob, masks) + dice_loss(1 - prob, 1 - masks)
        logits = features.global_embedding @ text.T / self.temperature
        image = F.cross_entropy(logits, labels.long()) * self.image_loss_weight
        return dict(loss_focal=focal * self.local_loss_weight,
                    loss_dice=dice * self.local_loss_weight, loss_image=image)


def anomaly_targets(data_samples: SampleList, size: Sequence[int],
             device: torch.device) -> tuple[Tensor, Tensor]:
    """(B, H, W) float masks (zeros without ``gt_anomaly_map``) and (B,) image labels."""
    masks, labels = [], []
    for sample in data_samples:
        if 'gt_anomaly_map' in sample:
            mask = (sample.gt_anomaly_map.data.float().to(device) > 0.5).float()
            mask = mask.reshape(-1, *mask.shape[-2:])[:1]
            pad = (0, size[1] - mask.shape[-1], 0, size[0] - mask.shape[-2])
            mask = F.pad(mask, pad)[0]
        else:
            mask = torch.zeros(tuple(size), device=device)
        masks.append(mask)
        if 'gt_score' in sample:
            labels.append(float(sample.gt_score.reshape(-1)[0] > 0.5))
        else:
            labels.append(float(mask.any()))
    return torch.stack(masks), torch.tensor(labels, device=device)
