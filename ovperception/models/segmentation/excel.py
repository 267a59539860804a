"""ExCEL training-free pseudo-masks from image-level tags (zwyang6/ExCEL, ``infer_lam.py`` with
``--training_free true``): every class of a sample's vocabulary is taken as present (or, for
evaluation, the classes of its ground truth), and each pixel gets one of them or background.

Per image: resize to ``input_size`` square (bilinear) -> CLIP-Surgery dual path
(:func:`surgery_forward`) -> feature surgery against the enriched texts of the vocabulary's
classes plus the background words (:mod:`.excel_text`) -> attention-affinity refinement of the
present classes (:func:`refine_with_affinity`) -> class maps at the output size, background
``1 - max``, PAR, argmax (:func:`pseudo_labels`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.models.segmentation.excel_masks import pseudo_labels
from ovperception.models.segmentation.excel_text import (cluster_attribute_bank, enrich_text,
                                                         feature_surgery,
                                                         load_class_descriptions)
from ovperception.models.segmentation.excel_visual import (AFFINITY_LAYERS, BOX_THRESHOLD,
                                                           SURGERY_BLOCKS, refine_with_affinity,
                                                           surgery_forward)
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList

#: The official PASCAL VOC background words (``datasets/clip_text.py`` BACKGROUND_CATEGORY).
VOC_BACKGROUND_WORDS: tuple[str, ...] = (
    'ground', 'land', 'grass', 'tree', 'building', 'wall', 'sky', 'lake', 'water', 'river',
    'sea', 'railway', 'railroad', 'keyboard', 'helmet', 'cloud', 'house', 'mountain', 'ocean',
    'road', 'rock', 'street', 'valley', 'bridge', 'sign')
#: The official prompt texts of the VOC classes that differ from their names (new_class_names).
VOC_PROMPT_NAMES: dict[str, str] = {
    'bird': 'bird avian', 'chair': 'chair seat', 'person': 'person with clothes,people,human',
    'tvmonitor': 'tvmonitor screen'}
EXCEL_TEMPLATE = 'a clean origami {}.'
IGNORE_LABEL = 255


@MODELS.register_module()
class ExCELModel(OVModel):
    """ExCEL pseudo-masks: each image segmented into its vocabulary's classes and background.

    Args:
        backbone: an ``OpenCLIPBackbone`` ViT (``pos_embed_resize='bilinear'`` as official).
        excel_background_words: texts scored with the classes and then dropped.
        prompt_names: class name -> the text its prompt uses (default: the name).
        descriptions_file: JSON ``{class: [description, ...]}`` for text-semantic enrichment
            (:func:`load_class_descriptions`); the attribute bank clusters all of its
            descriptions, as the official one (the dataset's classes); None: plain class
            texts (no TSE).
        num_attribute_clusters: k-means clusters of the descriptions (official VOC: 112).
        input_size: side of the square network input (official 320).
        tags_from_ground_truth: take the present classes from ``gt_sem_seg`` when a sample has
            one (the image-level labels of the WSSS protocol); otherwise (and always without
            ground truth, e.g. ``tools/annotate.py --tags-from``) every vocabulary class is
            present.
        background_class: a vocabulary entry of this name (case-insensitive; VOC21's
            ``background``) is the background class: neither prompted nor a candidate, and
            background pixels get its index; without one they are unlabelled (255).
    """

    def __init__(self, backbone: nn.Module | dict, *,
                 excel_background_words: Sequence[str] = VOC_BACKGROUND_WORDS,
                 prompt_names: Mapping[str, str] | None = None,
                 descriptions_file: str | None = None, num_attribute_clusters: int = 112,
                 input_size: int = 320, tags_from_ground_truth: bool = False,
                 background_class: str = 'background', surgery_blocks: int = SURGERY_BLOCKS,
                 affinity_layers: int = AFFINITY_LAYERS, box_threshold: float = BOX_THRESHOLD,
                 **kwargs) -> None:
        kwargs.setdefault('template_set', [EXCEL_TEMPLATE])
        kwargs.setdefault('test_cfg', dict(mode='whole'))
        super().__init__(backbone, None, **kwargs)
        self.excel_background_words = tuple(excel_background_words)
        self.prompt_names = dict(VOC_PROMPT_NAMES if prompt_names is None else prompt_names)
        self.descriptions_file = descriptions_file
        self.num_attribute_clusters = int(num_attribute_clusters)
        self.input_size = int(input_size)
        self.tags_from_ground_truth = bool(tags_from_ground_truth)
        self.background_class = background_class.lower()
        self.surgery_blocks, self.affinity_layers = int(surgery_blocks), int(affinity_layers)
        self.box_threshold = float(box_threshold)
        self._bank: Tensor | None = None

    # ------------------------------------------------------------------ text
    def _attribute_bank(self) -> Tensor:
        """(C, M) k-means centres of every description in the file (all its classes, as the
        official bank), computed once."""
        if self._bank is None:
            descriptions = load_class_descriptions(self.descriptions_file)
            embeddings = [self.backbone.encode_text(sentences).float().cpu()
                          for sentences in descriptions.values()]
            if sum(len(e) for e in embeddings) < self.num_attribute_clusters:
                raise ValueError(f'{self.descriptions_file} holds fewer descriptions than '
                                 f'num_attribute_clusters={self.num_attribute_clusters}')
            self._bank = cluster_attribute_bank(embeddings, self.num_attribute_clusters)[0]
        return self._bank

    def class_texts(self, classes: Sequence[str]) -> Tensor:
        """(K + B, C) normalised texts of the K classes (enriched when descriptions are
        given) followed by the B background words."""
        names = [self.prompt_names.get(c, c) for c in classes]
        foreground = self.text_cache.embed(names)
        background = self.text_cache.embed(list(self.excel_background_words))
        if self.descriptions_file is None:
            return torch.cat([foreground, background])
        return enrich_text(foreground, background, self._attribute_bank())

    # ---------------------------------------------------------------- images
    def encode_images(self, inputs: Tensor, data_samples: SampleList | None = None
                      ) -> EncodedImages:
        """Only the unpadded images: ExCEL runs once per image and vocabulary."""
        images = self.unpad(inputs, data_samples)
        return EncodedImages([tuple(i.shape[-2:]) for i in images], [[] for _ in images],
                             [[] for _ in images], images)

    def _present(self, sample: OVDataSample, foreground: list[int]) -> list[int]:
        """Positions in ``foreground`` of the classes present in ``sample``."""
        if not self.tags_from_ground_truth or 'gt_sem_seg' not in sample:
            return list(range(len(foreground)))
        found = set(torch.unique(sample.gt_sem_seg.data).tolist())
        return [i for i, c in enumerate(foreground) if c in found]

    @torch.no_grad()
    def pseudo_mask(self, image: Tensor, classes: Sequence[str], present: Sequence[int],
                    size: tuple[int, int]) -> Tensor:
        """(H, W) labels: 0 background, ``c + 1`` for ``classes[c]`` (c in ``present``).

        Args:
            image: (3, h, w) normalised image.
            classes: the foreground class names.
            present: indices of the classes present.
            size: (H, W) of the labels.
        """
        if not present:
            return torch.zeros(size, dtype=torch.long, device=image.device)
        net_input = F.interpolate(image[None].float(), size=(self.input_size,) * 2,
                                  mode='bilinear', align_corners=False)
        out = surgery_forward(self.backbone, net_input, self.surgery_blocks)
        texts = self.class_texts(classes).to(out.tokens)
        maps = feature_surgery(out.tokens, texts)[0, 1:, :len(classes)]
        refined = refine_with_affinity(maps, out.attention[:, 0], present, out.grid,
                                       self.affinity_layers, self.box_threshold)
        return pseudo_labels(refined, net_input[0], present, size)[0]

    def decode(self, encoded: EncodedImages, data_samples: SampleList) -> list[OVDataSample]:
        for image, sample in zip(encoded.images, data_samples):
            if image.dtype == torch.uint8:
                image = self.data_preprocessor.normalize(image)
            classnames = [c.split(';')[0].strip() for c in sample.metainfo['classnames']]
            background = [i for i, c in enumerate(classnames) if c.lower() == self.background_class]
            foreground = [i for i in range(len(classnames)) if i not in background]
            size = tuple(int(v) for v in sample.metainfo.get('ori_shape', image.shape[-2:])[:2])
            labels = self.pseudo_mask(image, [classnames[i] for i in foreground],
                                      self._present(sample, foreground), size)
            lookup = torch.tensor(background[:1] + foreground if background
                                  else [IGNORE_LABEL] + foreground, device=labels.device)
            sample.pred_sem_seg = PixelData(data=lookup[labels][None])
            sample.set_metainfo(dict(label_names=classnames))
        return data_samples
