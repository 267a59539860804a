"""Talk2DINO (Barsellotti et al., ICCV 2025): CLIP text mapped into DINOv2's patch space.

Training-free at test time; the only trained part is a small projection (released weights) from
CLIP text embeddings to DINOv2 patch features. For each sliding window, as the official
``DINOText.generate_masks`` / ``DINOTextSegInference`` (lorebianchi98/Talk2DINO):

1. ``Talk2DINOBackbone``: the window is resized to a ``resize_dim`` square (448), DINOv2 ViT-B/14
   with registers (:class:`DINOEncoder`, official position-embedding interpolation) gives the
   final-norm patch features and, per attention head, the last block's scaled query-key logits
   of the class token towards every patch (scale 0.125 as released, no softmax).
2. ``Talk2DINOHead``: every name's prompt ensemble (raw mean of the CLIP text outputs over the
   7 templates) goes through the projection and is L2-normalised; the window score of a name is
   ``sigmoid(cos(patch, text))``. With ``background_clean`` the scores are mixed with a per-name
   attention map: heads are weighted by the softmax over heads of ``text . normalise(mean_p
   (attn_h(p) * patch(p)))``, the weighted map is softmaxed over patches, min-max rescaled over
   the window (all names) into the score range and averaged with weight ``lambda``.
3. Each window's scores are bilinearly resized to the window (``align_corners=True``), refined by
   PAMR on the window's pixels (10 steps, dilations 1, 2, 4, 8, 12, 24) and averaged over the
   windows; a background class scores the constant ``background_threshold`` (never its text).
   The scores are resized to the original image and the argmax is the label.
"""
from __future__ import annotations

import logging
import os
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from ovperception.models.base_head import BaseOVHead
from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.models.clip.weights import (WeightsNotFoundError,
                                              check_state_dict)
from ovperception.models.conversion import (CheckpointConverter, StateDict, raise_unmatched,
                                            register_converter)
from ovperception.models.refiners.clip_wrapper import KEEP_CLIP_WEIGHTS, CLIPWrapperBackbone
from ovperception.models.refiners.pamr import pamr
from ovperception.models.segmentation.class_scores import label_from_name_scores
from ovperception.models.stitched import DenseOutput, as_stitched
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList
from ovperception.utils.download import fetch_release_file

#: The released projections: (URL at the commit our fixtures were made with, SHA-256 or None).
RELEASE_COMMIT = '4918c2df1d00c644ecc7f34de070694af1a8bc69'
RELEASED_PROJECTIONS = {
    'vitb_mlp_infonce': (
        f'https://raw.githubusercontent.com/lorebianchi98/Talk2DINO/{RELEASE_COMMIT}/weights/'
        'vitb_mlp_infonce.pth',
        '5f6efcc520f22916ecf3dfdfb01d6f57e701c1c2e1feda71a80d89e3cd752f0f'),
    'vitl_mlp_infonce': (
        f'https://raw.githubusercontent.com/lorebianchi98/Talk2DINO/{RELEASE_COMMIT}/weights/'
        'vitl_mlp_infonce.pth', None),
}
ACTIVATIONS = {'tanh': nn.Tanh, 'relu': nn.ReLU, 'sigmoid': nn.Sigmoid}
#: Released dilations and steps of the PAMR inside Talk2DINO's inference.
PAMR_DILATIONS = (1, 2, 4, 8, 12, 24)


class TextToDINOProjection(nn.Module):
    """The released projection: ``Linear(text_dim, dino_dim)``, then per hidden layer
    ``activation -> Linear(dino_dim, dino_dim)`` (ViT-B release: one hidden layer, tanh).

    Args:
        text_dim: CLIP text embedding size (512 for ViT-B/16).
        dino_dim: DINOv2 patch feature size (768 for ViT-B/14).
        hidden_layers: number of hidden layers.
        activation: ``'tanh'``, ``'relu'``, ``'sigmoid'`` or None.
    """

    def __init__(self, text_dim: int = 512, dino_dim: int = 768, hidden_layers: int = 1,
                 activation: str | None = 'tanh') -> None:
        super().__init__()
        if activation is not None and activation not in ACTIVATIONS:
            raise ValueError(f'activation must be one of {sorted(ACTIVATIONS)} or None, '
                             f'got {activation!r}')
        self.input_layer = nn.Linear(text_dim, dino_dim)
        self.hidden = nn.ModuleList([nn.Linear(dino_dim, dino_dim) for _ in range(hidden_layers)])
        self.activation = ACTIVATIONS[activation]() if activation else nn.Identity()

    def forward(self, text: Tensor) -> Tensor:
        """(N, text_dim) raw text embeddings -> (N, dino_dim) (not normalised)."""
        x = self.input_layer(text.float())
        for layer in self.hidden:
            x = layer(self.activation(x))
        return x


@MODELS.register_module()
class Talk2DINOBackbone(CLIPWrapperBackbone):
    """CLIP text tower + DINOv2: per window, patch features and class-token attention logits.

    Args:
        clip: an ``OpenCLIPBackbone`` (its text tower encodes the names; Talk2DINO: OpenAI
            ViT-B/16) or its config.
        dino: a ``DINOEncoder`` or its config (Talk2DINO: ``vit_base_patch14_reg4_dinov2``,
            ``pos_embed_resize='bicubic_offset'``).
        resize_dim: side of the square every window is resized to (448; a multiple of the
            DINO patch).
        attn_scale: factor on the query-key products (0.125 as released, whatever the head
            width).
        antialias: antialiased window resize (torchvision's tensor default); only windows not
            of ``resize_dim`` size are affected.
        pretrained: CLIP weights overriding the CLIP config's (``--weights`` of a CLIP file).

    ``dense_features`` returns (B, D + M, g, g): D patch channels, then M heads' class-token
    logits, g = resize_dim / patch; the grid is stretched over the window.
    """

    #: prompt ensemble of Talk2DINO: the plain mean of the text outputs, not normalised.
    text_ensemble = dict(normalise_each=False, normalise_mean=False)

    def __init__(self, clip: nn.Module | dict, dino: nn.Module | dict, *, resize_dim: int = 448,
                 attn_scale: float = 0.125, antialias: bool = True,
                 pretrained: str | None = KEEP_CLIP_WEIGHTS) -> None:
        super().__init__(clip, pretrained, method='Talk2DINO')
        self.dino = dino if isinstance(dino, nn.Module) else MODELS.build(dino)
        self.patch_size = int(self.dino.patch_size)
        if resize_dim <= 0 or resize_dim % self.patch_size:
            raise ValueError(f'resize_dim must be a positive multiple of the DINO patch '
                             f'({self.patch_size}), got {resize_dim}')
        self.resize_dim = int(resize_dim)
        self.attn_scale = float(attn_scale)
        self.antialias = bool(antialias)
        self.feature_dim = int(self.dino.embed_dim)
        self.num_heads = int(self.dino.num_heads)

    @property
    def grid_placement(self) -> tuple[None, bool]:
        """The square grid is stretched over the window (it saw the window resized)."""
        return None, False

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        """(K,) prompts -> (K, C) raw (not normalised) CLIP text embeddings."""
        return self.clip.encode_text(list(texts), normalize=False)

    def dense_features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised windows -> (B, D + M, g, g) (see the class docstring)."""
        size = (self.resize_dim, self.resize_dim)
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images.float(), size=size, mode='bilinear',
                                   align_corners=False, antialias=self.antialias)
        with torch.no_grad():
            out = self.dino(images, self.clip.mean, self.clip.std, with_qkv=True)
        prefix = out.num_prefix_tokens
        logits = (out.q[:, :, :1] * self.attn_scale) @ out.k[:, :, prefix:].transpose(-2, -1)
        attention = logits[:, :, 0].reshape(logits.shape[0], -1, *out.grid)
        return torch.cat([out.patches, attention.to(out.patches.dtype)], dim=1)


def attention_background_clean(scores: Tensor, patches: Tensor, attention: Tensor,
                               text: Tensor, weight: float) -> Tensor:
    """Talk2DINO's ``similarity_assignment_weighted``, per window.

    Args:
        scores: (B, N, h, w) sigmoid scores.
        patches: (B, D, h, w) DINOv2 patch features (not normalised).
        attention: (B, M, h, w) class-token logits of the M heads.
        text: (N, D) normalised projected text.
        weight: ``lambda`` (0.2 as released).

    Returns:
        (B, N, h, w) ``(scores + weight * rescaled attention) / (1 + weight)``.
    """
    batch, names, height, width = scores.shape
    attn = attention.flatten(2).float()  # (B, M, P)
    feats = patches.flatten(2).float()  # (B, D, P)
    head_embed = F.normalize(torch.einsum('bmp,bdp->bmd', attn, feats) / attn.shape[-1], dim=-1)
    head_text = torch.einsum('nd,bmd->bnm', text.float(), head_embed).softmax(dim=-1)
    per_name = torch.einsum('bnm,bmp->bnp', head_text, attn) / head_text.sum(-1, keepdim=True)
    per_name = per_name.softmax(dim=-1)
    low = per_name.amin(dim=(1, 2), keepdim=True)
    high = per_name.amax(dim=(1, 2), keepdim=True)
    high = torch.maximum(high, high - low)
    flat = scores.reshape(batch, names, -1)
    s_low = flat.amin(dim=(1, 2), keepdim=True)
    s_high = flat.amax(dim=(1, 2), keepdim=True)
    rescaled = (per_name - low) / high * (s_high - s_low) + s_low
    return ((flat + weight * rescaled) / (1 + weight)).reshape(batch, names, height, width)


@MODELS.register_module()
class Talk2DINOHead(BaseOVHead):
    """Talk2DINO's scores, per-window PAMR and window averaging (see the module docstring).

    Args:
        text_dim, dino_dim, hidden_layers, activation: the projection
            (:class:`TextToDINOProjection`; ViT-B release 512, 768, 1, tanh).
        background_clean: mix in the head-weighted attention maps (official
            ``with_bg_clean``: on for VOC21 and COCO-Object).
        background_clean_weight: its ``lambda`` (0.2).
        background_index: class whose names are not scored from text but get the constant
            ``background_threshold`` (the official ``with_bg``: class 0 ``background``); None:
            every class is scored. Names of a configured background word (a virtual background
            class) are scored like classes.
        background_threshold: the background class's constant score (0.55 for VOC21,
            Context60 and COCO-Object as released).
        pamr_steps: PAMR steps on every window (10; 0 turns PAMR off).
        pamr_dilations: its dilations.
        return_logits: store the averaged scores at ``ori_shape`` in ``seg_logits``.
        weights: the projection's weights: None (random: smoke runs), a local file (the
            official ``*_mlp_infonce.pth`` or our ``head.projection.*`` layout), or a release
            name (``'vitb_mlp_infonce'``, ``'vitl_mlp_infonce'``) downloaded into
            ``cache_dir`` on first use (the release mirror applies). ``--weights`` of a
            projection file replaces it.
        cache_dir: where released projections are kept (default ``~/.cache/talk2dino``).
    """

    takes_stitched_windows = True  # predict() refines each window before averaging

    def __init__(self, *, text_dim: int = 512, dino_dim: int = 768, hidden_layers: int = 1,
                 activation: str | None = 'tanh', background_clean: bool = False,
                 background_clean_weight: float = 0.2, background_index: int | None = None,
                 background_threshold: float = 0.55, pamr_steps: int = 10,
                 pamr_dilations: Sequence[int] = PAMR_DILATIONS,
                 return_logits: bool = False, weights: str | None = None,
                 cache_dir: str | None = None) -> None:
        super().__init__()
        if pamr_steps < 0 or not all(int(d) > 0 for d in pamr_dilations):
            raise ValueError('pamr_steps must be >= 0 and pamr_dilations positive')
        if background_clean_weight < 0:
            raise ValueError(f'background_clean_weight must be >= 0, got '
                             f'{background_clean_weight}')
        self.projection = TextToDINOProjection(text_dim, dino_dim, hidden_layers, activation)
        self.dino_dim = int(dino_dim)
        self.background_clean = bool(background_clean)
        self.background_clean_weight = float(background_clean_weight)
        self.background_index = background_index
        self.background_threshold = float(background_threshold)
        self.pamr_steps = int(pamr_steps)
        self.pamr_dilations = tuple(int(d) for d in pamr_dilations)
        self.return_logits = bool(return_logits)
        self._projected: tuple[Tensor, Tensor] | None = None
        if weights:
            self.load_projection(projection_file(weights, cache_dir))
        else:
            print_log('Talk2DINOHead: random projection (no weights given): not Talk2DINO; '
                      "pass --weights vitb_mlp_infonce.pth or weights='vitb_mlp_infonce'",
                      logger='current', level=logging.WARNING)

    def load_projection(self, path: str) -> None:
        """Strictly load the projection from ``path`` (official or our layout)."""
        from ovperception.models.checkpoint import read_raw_state_dict
        raw = read_raw_state_dict(path)
        state = convert_talk2dino(raw) if is_talk2dino_state(raw) else dict(raw)
        prefix = 'head.projection.'
        own = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        check_state_dict(self.projection.state_dict(), own, 'Talk2DINO projection', path)
        self.projection.load_state_dict(own, strict=True)

    @property
    def uses_images(self) -> bool:
        """PAMR needs the (3, H, W) 0..255 RGB working-resolution images."""
        return self.pamr_steps > 0

    def projected_text(self, text: TextEmbeddings) -> Tensor:
        """(N, D) normalised projected text of a vocabulary (computed once per vocabulary)."""
        if self._projected is None or self._projected[0] is not text.embeddings:
            with torch.no_grad():
                projected = F.normalize(self.projection(text.embeddings), dim=-1)
            self._projected = (text.embeddings, projected)
        return self._projected[1]

    def scored_names(self, text: TextEmbeddings) -> Tensor:
        """(N,) bool: the names scored from text (all but the background class's)."""
        if self.background_index is None:
            return torch.ones_like(text.name_to_class, dtype=torch.bool)
        return text.name_to_class != self.background_index

    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """(B, D + M, h, w) backbone output -> (B, N, h, w) window scores of every name."""
        if feats.shape[1] <= self.dino_dim:
            raise ValueError(f'Talk2DINOHead expects {self.dino_dim} DINO channels plus the '
                             f'attention maps, got {feats.shape[1]} channels')
        patches, attention = feats[:, :self.dino_dim].float(), feats[:, self.dino_dim:].float()
        projected = self.projected_text(text).to(feats.device)
        scored = self.scored_names(text).to(feats.device)
        cosine = torch.einsum('bdhw,nd->bnhw', F.normalize(patches, dim=1), projected[scored])
        scores = torch.sigmoid(cosine)
        if self.background_clean:
            scores = attention_background_clean(scores, patches, attention, projected[scored],
                                                self.background_clean_weight)
        out = scores.new_full((feats.shape[0], scored.numel(), *feats.shape[-2:]),
                              self.background_threshold)
        out[:, scored] = scores
        return out

    def loss(self, feats: Tensor, text: TextEmbeddings,
             data_samples: SampleList) -> dict[str, Tensor]:
        raise RuntimeError('Talk2DINO is evaluated training-free here (its projection is '
                           'released): evaluate it with tools/test.py')

    def refined_average(self, output: DenseOutput, image: Tensor | None) -> Tensor:
        """(N, H, W): every window's scores resized onto it, PAMR-refined, averaged."""
        stitched = as_stitched(output)
        outputs = stitched.outputs.float()
        height, width = stitched.image_size
        total = outputs.new_zeros((outputs.shape[1], height, width))
        count = outputs.new_zeros((1, height, width))
        for window, scores in zip(stitched.windows, outputs):
            y0, x0, y1, x1 = window
            resized = F.interpolate(scores[None], size=(y1 - y0, x1 - x0), mode='bilinear',
                                    align_corners=True)
            if self.pamr_steps and image is not None:
                crop = image[None, :, y0:y1, x0:x1].float()
                resized = pamr(crop, resized, self.pamr_steps, self.pamr_dilations)
            total[:, y0:y1, x0:x1] += resized[0]
            count[:, y0:y1, x0:x1] += 1
        return total / count

    def predict(self, outputs: Sequence[DenseOutput], text: TextEmbeddings,
                data_samples: SampleList,
                images: Sequence[Tensor] | None = None) -> list[OVDataSample]:
        """Label maps at each sample's ``ori_shape``.

        Args:
            outputs: per sample, its lazily stitched window scores of :meth:`forward`.
            images: per sample, its (3, H, W) 0..255 RGB working-resolution image (PAMR).
        """
        if self.uses_images and (images is None or len(images) != len(outputs)):
            raise ValueError('Talk2DINO with PAMR needs one image per output')
        for index, (output, sample) in enumerate(zip(outputs, data_samples)):
            scores = self.refined_average(output, images[index] if images else None)
            label_from_name_scores(sample, scores, text, self.background_index,
                                   self.return_logits)
        return list(data_samples)


# ----------------------------------------------------------------------- released weights
def projection_file(weights: str, cache_dir: str | None = None) -> str:
    """Local file of ``weights``: an existing path, or a release name downloaded on first use
    (release mirror, ``--offline`` and no-route checks as for every release file:
    :func:`~ovperception.utils.download.fetch_release_file`).

    Raises:
        WeightsNotFoundError: a missing path, an unknown name, or a release not cached and
            not downloadable now, with the fix.
    """
    if os.path.isfile(weights):
        return weights
    if weights not in RELEASED_PROJECTIONS:
        raise WeightsNotFoundError(
            f'Talk2DINO projection {weights!r} is neither a file nor a release name '
            f'({sorted(RELEASED_PROJECTIONS)}); get weights/vitb_mlp_infonce.pth from '
            'lorebianchi98/Talk2DINO and pass its path')
    url, sha256 = RELEASED_PROJECTIONS[weights]
    folder = cache_dir or os.path.join(os.path.expanduser('~'), '.cache', 'talk2dino')
    return fetch_release_file(
        url, folder, what=f'the Talk2DINO projection {weights!r}', expected_sha256=sha256,
        fix='pass the file (weights/<name>.pth of lorebianchi98/Talk2DINO) as weights=PATH')


#: official ProjectionLayer key -> ours (``head.projection.`` prefix added).
_OFFICIAL_PREFIXES = (('linear_layer.', 'input_layer.'), ('hidden_layers.', 'hidden.'),
                      ('linear_layer2.', 'hidden.0.'))


def is_talk2dino_state(state: Mapping[str, object]) -> bool:
    """True for the released ``weights/*_mlp_infonce.pth`` layout (``ProjectionLayer``)."""
    keys = set(state)
    return 'linear_layer.weight' in keys and 'linear_layer.bias' in keys and all(
        key.startswith(('linear_layer.', 'linear_layer2.', 'hidden_layers.')) for key in keys)


def convert_talk2dino(state: Mapping[str, object]) -> StateDict:
    """Official ``ProjectionLayer`` state dict -> ``head.projection.*`` of our model.

    Raises:
        CheckpointMismatchError: a key with no counterpart (e.g. attention-head weights of
            the variants the evaluation does not use).
    """
    converted: StateDict = {}
    unmatched = []
    for key, value in state.items():
        for official, ours in _OFFICIAL_PREFIXES:
            if key.startswith(official) and isinstance(value, Tensor):
                converted['head.projection.' + ours + key[len(official):]] = value.float()
                break
        else:
            unmatched.append(key)
    raise_unmatched(unmatched, 'Talk2DINO')
    return converted


TALK2DINO_CONVERTER = register_converter(CheckpointConverter(
    name='talk2dino',
    description='Talk2DINO projection (lorebianchi98/Talk2DINO weights/vitb_mlp_infonce.pth, '
                'vitl_mlp_infonce.pth)',
    detect=is_talk2dino_state, convert=convert_talk2dino))
