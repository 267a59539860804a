"""ExCEL training-free pseudo-masks from image-level tags (zwyang6/ExCEL, ``infer_lam.py`` with
``--training_free true``): every class of a sample's vocabulary is taken as present (or, for
evaluation, the classes of its ground truth), and each pixel gets one of them or background.

Per image: resize to ``input_size`` square (bilinear) -> CLIP-Surgery dual path
(:func:`surgery_forward`) -> feature surgery against the enriched texts of the vocabulary's
classes plus the background words (:mod:`.excel_text`) -> attention-affinity refinement of the
present classes (:func:`refine_with_affinity`) -> class maps at the output size, background
``1 - max``, PAR, argmax (:func:`pseudo_labels`).

With a segmentation head (``seg_head``, :class:`ExCELSegHead`) the model trains as the
official ``train_voc.py`` (:meth:`ExCELModel.loss`, :mod:`.excel_training`): only the head
learns, from online pseudo-masks of each crop's image-level tags (metainfo ``image_tags``);
CLIP stays frozen and in eval mode. Prediction then uses the trained segmenter (multi-scale
+ flip, :mod:`.excel_segmenter`) on vocabularies within ``head_classes``, or
(``segmenter_cfg.predict_from='pseudo_masks'``) the pseudo-masks after training (LVC + flip
class maps, refinement with the predicted affinity).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor, nn

from ovperception.models.clip.classnames import load_classnames
from ovperception.models.ov_model import EncodedImages, OVModel
from ovperception.models.refiners.dense_crf import DenseCRF
from ovperception.models.segmentation.excel_head import predicted_affinity
from ovperception.models.segmentation.excel_masks import pseudo_labels
from ovperception.models.segmentation.excel_segmenter import (check_segmenter_cfg,
                                                              flip_max_class_maps,
                                                              msc_flip_logits)
from ovperception.models.segmentation.excel_text import (cluster_attribute_bank, enrich_text,
                                                         feature_surgery,
                                                         load_class_descriptions)
from ovperception.models.segmentation.excel_training import (batch_pseudo_masks,
                                                             excel_train_cfg, patch_token_maps,
                                                             quantised_guides, segmenter_losses,
                                                             uses_segmenter_affinity)
from ovperception.models.segmentation.excel_visual import (AFFINITY_LAYERS, BOX_THRESHOLD,
                                                           SURGERY_BLOCKS, SurgeryOutput,
                                                           refine_with_affinity, surgery_forward)
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, SampleList
from ovperception.utils.closed_vocabulary import vocabulary_in_head

#: The official PASCAL VOC background words (``datasets/clip_text.py`` BACKGROUND_CATEGORY).
VOC_BACKGROUND_WORDS: tuple[str, ...] = (
    'ground', 'land', 'grass', 'tree', 'building', 'wall', 'sky', 'lake', 'water', 'river',
    'sea', 'railway', 'railroad', 'keyboard', 'helmet', 'cloud', 'house', 'mountain', 'ocean',
    'road', 'rock', 'street', 'valley', 'bridge', 'sign')
#: The official prompt texts of the VOC classes that differ from their names (new_class_names).
VOC_PROMPT_NAMES: dict[str, str] = {
    'bird': 'bird avian', 'chair': 'chair seat', 'person': 'person with clothes,people,human',
    'tvmonitor': 'tvmonitor screen'}
#: The official MS COCO background words (BACKGROUND_CATEGORY_COCO): VOC's without 'keyboard'
#: (a COCO class) and 'sign'.
COCO_BACKGROUND_WORDS: tuple[str, ...] = (
    'ground', 'land', 'grass', 'tree', 'building', 'wall', 'sky', 'lake', 'water', 'river',
    'sea', 'railway', 'railroad', 'helmet', 'cloud', 'house', 'mountain', 'ocean', 'road',
    'rock', 'street', 'valley', 'bridge')
#: The official prompt texts of the COCO classes (excel/coco81) that differ from their names
#: (new_class_names_coco; 'sknowboard' is the repository's spelling).
COCO_PROMPT_NAMES: dict[str, str] = {
    'person': 'person with clothes,people,human', 'bird': 'bird avian',
    'backpack': 'backpack,bag', 'umbrella': 'umbrella,parasol', 'handbag': 'handbag,purse',
    'tie': 'necktie', 'snowboard': 'sknowboard', 'baseball glove': 'glove',
    'spoon': 'dessertspoon', 'chair': 'chair seat', 'tvmonitor': 'tvmonitor screen',
    'remote': 'remote control', 'hair drier': 'hairdrier,blowdrier'}
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
        seg_head: the trainable segmentation network (:class:`ExCELSegHead` or its config);
            None: training-free.
        head_classes: the seg head's output classes, background first: a class-name file
            (e.g. ``'excel/voc21'``) or a list. Required with ``seg_head``.
        segmenter_cfg: inference with a seg head: ``size`` (320), ``scales``
            ((0.7, 1.0, 1.2, 1.5)), ``flip`` (True), ``base_flip`` (False: VOC; True: the
            base scale also averages with its flip, COCO), ``merge_ratio`` (None: logits
            averaged at the image size, VOC; 0.2: at 0.2 x the image size, COCO),
            ``predict_from`` ('segmenter' | 'pseudo_masks'), ``crf`` (None; or the options
            of a :class:`~ovperception.models.refiners.dense_crf.DenseCRF`, e.g. ``dict()``
            for the official 10 steps, 1/3, 67/3/4: the softmax of the mean logits at the
            original image size is post-processed with the image, as the official COCO
            evaluation; ``pred_sem_seg`` is then the argmax of the marginals and
            ``seg_logits`` the marginals of the vocabulary's classes).
        train_cfg: ``lvc_start_iter`` (14000), ``seg_affinity_start_iter`` (24000; None:
            never, the affinity labels always from the pseudo-masks as official COCO),
            ``affinity_radius`` (8), ``affinity_weight`` (0.1), ``box_threshold`` (0.79),
            ``ignore_index`` (255).
    """

    def __init__(self, backbone: nn.Module | dict, *,
                 excel_background_words: Sequence[str] = VOC_BACKGROUND_WORDS,
                 prompt_names: Mapping[str, str] | None = None,
                 descriptions_file: str | None = None, num_attribute_clusters: int = 112,
                 input_size: int = 320, tags_from_ground_truth: bool = False,
                 background_class: str = 'background', surgery_blocks: int = SURGERY_BLOCKS,
                 affinity_layers: int = AFFINITY_LAYERS, box_threshold: float = BOX_THRESHOLD,
                 seg_head: nn.Module | dict | None = None,
                 head_classes: str | Sequence[str] | None = None,
                 segmenter_cfg: dict | None = None, train_cfg: dict | None = None,
                 **kwargs) -> None:
        if seg_head is not None and head_classes is None:
            raise ValueError('ExCELModel with a seg_head needs head_classes (its output '
                             "classes, background first: e.g. 'excel/voc21')")
        if seg_head is None and (train_cfg or segmenter_cfg):
            raise ValueError('ExCELModel: train_cfg and segmenter_cfg need a seg_head')
        checked_train_cfg = excel_train_cfg(train_cfg)
        checked_segmenter_cfg = (check_segmenter_cfg(segmenter_cfg) if seg_head is not None
                                 else None)
        crf = (DenseCRF(**checked_segmenter_cfg['crf'])
               if checked_segmenter_cfg and checked_segmenter_cfg['crf'] is not None else None)
        trained_classes = None if seg_head is None else (
            load_classnames(head_classes) if isinstance(head_classes, str)
            else [str(c) for c in head_classes])
        kwargs.setdefault('template_set', [EXCEL_TEMPLATE])
        kwargs.setdefault('test_cfg', dict(mode='whole'))
        super().__init__(backbone, None, train_cfg=checked_train_cfg, **kwargs)
        self.segmenter_cfg = checked_segmenter_cfg
        self.crf: DenseCRF | None = crf
        self.head_classes: list[str] | None = trained_classes
        self.seg_head: nn.Module | None = None
        if seg_head is not None:
            self.seg_head = seg_head if isinstance(seg_head, nn.Module) else MODELS.build(
                seg_head)
            if getattr(self.seg_head, 'num_classes', len(self.head_classes)) \
                    != len(self.head_classes):
                raise ValueError(f'seg_head has {self.seg_head.num_classes} classes but '
                                 f'head_classes lists {len(self.head_classes)}')
            self.backbone.requires_grad_(False)
            self.register_buffer('train_iter', torch.zeros((), dtype=torch.long))
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

    @property
    def fixed_vocabulary(self) -> list[str] | None:
        """The trained segmenter's ``head_classes`` (background first), the only classes it
        predicts; None when training-free (any vocabulary)."""
        return None if self.seg_head is None else list(self.head_classes)

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
        """Positions in ``foreground`` (vocabulary indices) of the classes present in
        ``sample``: its ``image_tags`` when set, else its ground truth's classes with
        ``tags_from_ground_truth``, else all of them."""
        tags = sample.metainfo.get('image_tags')
        if tags is not None:
            found = {int(t) for t in tags}
        elif self.tags_from_ground_truth and 'gt_sem_seg' in sample:
            found = set(torch.unique(sample.gt_sem_seg.data).tolist())
        else:
            return list(range(len(foreground)))
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
        net_input = self._net_input(image)
        out = surgery_forward(self.backbone, net_input, self.surgery_blocks)
        texts = self.class_texts(classes).to(out.tokens)
        maps = feature_surgery(out.tokens, texts)[0, 1:, :len(classes)]
        refined = refine_with_affinity(maps, out.attention[:, 0], present, out.grid,
                                       self.affinity_layers, self.box_threshold)
        return pseudo_labels(refined, net_input[0], present, size)[0]

    def _net_input(self, image: Tensor) -> Tensor:
        """(1, 3, S, S) bilinear resize of a (3, h, w) image to ``input_size``."""
        return F.interpolate(image[None].float(), size=(self.input_size,) * 2,
                             mode='bilinear', align_corners=False)

    # ------------------------------------------------------ trained segmenter
    def train(self, mode: bool = True) -> 'ExCELModel':
        """Train mode for the seg head; the frozen CLIP stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def segment(self, images: Tensor) -> tuple[SurgeryOutput, Tensor, Tensor]:
        """CLIP dual path + seg head on (B, 3, H, W) normalised images: (surgery output,
        (B, K, h, w) logits, (B, D, h, w) fused features)."""
        out = surgery_forward(self.backbone, images, self.surgery_blocks)
        logits, fused = self.seg_head(patch_token_maps(out.layer_tokens, out.grid))
        return out, logits, fused

    def head_class_maps(self, tokens: Tensor) -> Tensor:
        """(B, h*w, K - 1) feature-surgery maps of the head's foreground classes from
        (B, 1 + h*w, C) surgery tokens."""
        foreground = self.head_classes[1:]
        texts = self.class_texts(foreground).to(tokens)
        return feature_surgery(tokens, texts)[:, 1:, :len(foreground)]

    def _crop_tags(self, sample: OVDataSample, index: int) -> list[int]:
        """Sorted foreground head classes (0-based, background excluded) of the tags of a
        training crop's image."""
        tags = sample.metainfo.get('image_tags')
        where = sample.metainfo.get('img_path', 'in memory')
        if tags is None:
            raise ValueError(f'training sample {index} ({where}) has no "image_tags": ExCEL '
                             'trains from image-level tags; put ImageTagsFromMask before the '
                             'crop in the training pipeline, or use a dataset that sets them')
        classnames = list(sample.metainfo.get('classnames') or self.head_classes)
        if any(not 0 <= int(t) < len(classnames) for t in tags):
            raise ValueError(f'training sample {index} ({where}): image_tags {list(tags)} are '
                             f'not indices into its {len(classnames)} classnames')
        heads = vocabulary_in_head([classnames[int(t)] for t in tags], self.head_classes)
        return sorted({h - 1 for h in heads if h != 0})

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """``loss_seg`` + ``loss_aff`` of one batch of crops (official train_voc.py step)."""
        if self.seg_head is None:
            raise RuntimeError('ExCELModel without a seg_head is training-free: evaluate it '
                               'with tools/test.py, or give it seg_head and head_classes')
        present = [self._crop_tags(sample, i) for i, sample in enumerate(data_samples)]
        cfg, iteration = self.train_cfg, int(self.train_iter)
        calibrated = iteration >= cfg['lvc_start_iter']
        out, logits, fused = self.segment(inputs)
        affinity = predicted_affinity(fused)
        with torch.no_grad():
            tokens = (surgery_forward(self.backbone, inputs, self.surgery_blocks,
                                      ex_feats=fused.detach()).tokens
                      if calibrated else out.tokens)
            guides = quantised_guides(inputs, self.data_preprocessor.mean,
                                      self.data_preprocessor.std)
            masks = batch_pseudo_masks(
                self.head_class_maps(tokens), out.attention, present, out.grid, guides,
                seg_affinity=affinity.detach() if calibrated else None,
                affinity_layers=self.affinity_layers, box_threshold=cfg['box_threshold'])
        losses = segmenter_losses(logits, affinity, masks,
                                  uses_segmenter_affinity(cfg, iteration), cfg)
        if self.training:
            self.train_iter += 1
        return losses

    @torch.no_grad()
    def trained_pseudo_mask(self, image: Tensor, present: Sequence[int],
                            size: tuple[int, int]) -> Tensor:
        """(H, W) head-class labels (0 background) of the pseudo-mask after training
        (infer_lam.py, not training-free): LVC + flip class maps, refinement with the
        predicted affinity, PAR guided by the network input.

        Args:
            image: (3, h, w) normalised image.
            present: the foreground head classes present (0-based, background excluded).
        """
        if not present:
            return torch.zeros(size, dtype=torch.long, device=image.device)
        net_input = self._net_input(image)
        maps, out, fused = self.calibrated_flip_maps(net_input)
        refined = refine_with_affinity(maps[0], out.attention[:, 0], present, out.grid,
                                       self.affinity_layers, self.box_threshold,
                                       seg_attn=predicted_affinity(fused[:1])[0])
        return pseudo_labels(refined, net_input[0], present, size)[0]

    @torch.no_grad()
    def calibrated_flip_maps(self, images: Tensor) -> tuple[Tensor, SurgeryOutput, Tensor]:
        """The official ``cure_attr_map_flip`` on (B, 3, S, S) normalised images, run as one
        batch with their mirrors: ((B, h*w, K - 1) LVC + flip class maps, the surgery output
        and (2B, D, h, w) fused features of that 2B batch)."""
        pair = torch.cat([images, images.flip(-1)])
        out, _, fused = self.segment(pair)
        calibrated = surgery_forward(self.backbone, pair, self.surgery_blocks, ex_feats=fused)
        return flip_max_class_maps(self.head_class_maps(calibrated.tokens), out.grid), out, fused

    def segmenter_logits(self, image: Tensor) -> Tensor:
        """(K, h, w) multi-scale + flip logits of the trained segmenter on a (3, h, w)
        normalised image (official infer_seg_voc.py)."""
        cfg = self.segmenter_cfg
        return msc_flip_logits(lambda batch: self.segment(batch)[1], image, int(cfg['size']),
                               cfg['scales'], bool(cfg['flip']), base_flip=cfg['base_flip'],
                               merge_ratio=cfg['merge_ratio'])

    # ---------------------------------------------------------------- decode
    def decode(self, encoded: EncodedImages, data_samples: SampleList) -> list[OVDataSample]:
        if self.seg_head is not None and self.segmenter_cfg['predict_from'] == 'segmenter':
            return self._decode_segmenter(encoded, data_samples)
        for image, sample in zip(encoded.images, data_samples):
            if image.dtype == torch.uint8:
                image = self.data_preprocessor.normalize(image)
            classnames = self._classnames(sample)
            size = self._label_size(image, sample)
            if self.seg_head is None:
                labels = self._training_free_labels(image, sample, classnames, size)
            else:
                labels = self._trained_pseudo_labels(image, sample, classnames, size)
            sample.pred_sem_seg = PixelData(data=labels[None])
            sample.set_metainfo(dict(label_names=classnames))
        return data_samples

    @staticmethod
    def _classnames(sample: OVDataSample) -> list[str]:
        return [c.split(';')[0].strip() for c in sample.metainfo['classnames']]

    @staticmethod
    def _label_size(image: Tensor, sample: OVDataSample) -> tuple[int, int]:
        return tuple(int(v) for v in sample.metainfo.get('ori_shape', image.shape[-2:])[:2])

    def _background(self, classnames: Sequence[str]) -> list[int]:
        return [i for i, c in enumerate(classnames) if c.lower() == self.background_class]

    def _training_free_labels(self, image: Tensor, sample: OVDataSample,
                              classnames: list[str], size: tuple[int, int]) -> Tensor:
        background = self._background(classnames)
        foreground = [i for i in range(len(classnames)) if i not in background]
        labels = self.pseudo_mask(image, [classnames[i] for i in foreground],
                                  self._present(sample, foreground), size)
        lookup = torch.tensor(background[:1] + foreground if background
                              else [IGNORE_LABEL] + foreground, device=labels.device)
        return lookup[labels]

    def _head_lookup(self, heads: list[int], device: torch.device) -> Tensor:
        """(len(head_classes),) vocabulary index of each head class (255: not in it)."""
        lookup = torch.full((len(self.head_classes),), IGNORE_LABEL, dtype=torch.long,
                            device=device)
        for position, head in enumerate(heads):
            lookup[head] = position
        return lookup

    def _decode_segmenter(self, encoded: EncodedImages,
                          data_samples: SampleList) -> list[OVDataSample]:
        """Labels from the segmenter's logits, post-processed by the CRF when configured: the
        batch's logits first, then its CRFs side by side on ``crf.workers`` processes
        (``DenseCRF.map``). The multi-scale forward is short next to a CRF (milliseconds on
        a GPU against seconds), so it is not overlapped with the CRFs, which also keeps
        the benchmark's stage split exact."""
        heads_and_scores = [self._segmenter_scores(rgb, sample)
                            for rgb, sample in zip(encoded.images, data_samples)]
        scores = [logits for _, logits in heads_and_scores]
        if self.crf is not None:
            scores = self.crf.map([(self._crf_image(rgb), logits.softmax(0))
                                   for rgb, logits in zip(encoded.images, scores)])
        for sample, (heads, _), sample_scores in zip(data_samples, heads_and_scores, scores):
            labels = sample_scores.argmax(0)
            labels[labels >= len(heads)] = IGNORE_LABEL
            sample.seg_logits = PixelData(data=sample_scores[:len(heads)])
            sample.pred_sem_seg = PixelData(data=labels[None])
            sample.set_metainfo(dict(label_names=self._classnames(sample)))
        return data_samples

    def _segmenter_scores(self, rgb: Tensor, sample: OVDataSample) -> tuple[list[int], Tensor]:
        """(the head class of each vocabulary entry, (len(heads) [+ 1], H, W) float logits at
        the label size of those head classes, then the background when the vocabulary lacks
        it: it always competes) for a (3, h, w) uint8 or normalised image."""
        image = self.data_preprocessor.normalize(rgb) if rgb.dtype == torch.uint8 else rgb
        heads = vocabulary_in_head(self._classnames(sample), self.head_classes)
        with torch.no_grad():
            logits = F.interpolate(self.segmenter_logits(image)[None],
                                   size=self._label_size(image, sample), mode='bilinear',
                                   align_corners=False)[0]
        selected = heads + ([0] if 0 not in heads else [])
        return heads, logits[selected].float()

    def _crf_image(self, rgb: Tensor) -> Tensor:
        """The 0..255 RGB image the CRF reads, from a uint8 or a normalised (3, h, w) one."""
        return rgb if rgb.dtype == torch.uint8 else self.data_preprocessor.denormalize(rgb)

    def _trained_pseudo_labels(self, image: Tensor, sample: OVDataSample,
                               classnames: list[str], size: tuple[int, int]) -> Tensor:
        heads = vocabulary_in_head(classnames, self.head_classes)
        foreground = [i for i, h in enumerate(heads) if h != 0]
        present = sorted(heads[foreground[i]] - 1 for i in self._present(sample, foreground))
        labels = self.trained_pseudo_mask(image, present, size)
        return self._head_lookup(heads, labels.device)[labels]
