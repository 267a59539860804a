"""CountCLIP: CLIP fine-tuned with a counting-contrastive loss, counting by number prompts.

"Teaching CLIP to Count to Ten" (Paiss et al., ICCV 2023; no official code was released)
fine-tunes a CLIP model on captions that state a count from two to ten. Besides CLIP's
own contrastive loss over the batch, each counting caption gets a *counterfactual*: the
same caption with its number swapped for another one (three -> six). The counting loss

    L_count = -log( exp(s(i, t)) / (exp(s(i, t)) + exp(s(i, t_cf))) )

(``s`` = CLIP's scaled cosine logit of image ``i`` and caption ``t``) makes the image
prefer its true count over the counterfactual; the total is ``L_clip + weight * L_count``
(the paper's weight is 1). At test time an image's count is the number whose caption
variant scores highest among two .. ten (CountBench's protocol) or, for a class name
without a caption, whose prompt "a photo of {number} {plural name}." does.
"""
from __future__ import annotations

import random
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from open_clip.loss import ClipLoss
from torch import Tensor, nn

from ovperception.models.counting.number_prompts import (NumberPromptCounts, NumberPrompts,
                                                         check_number_prompts, choose_numbers)
from ovperception.models.counting.number_words import (COUNTBENCH_NUMBERS,
                                                       DEFAULT_COUNT_TEMPLATE,
                                                       counterfactual_caption)
from ovperception.models.data_preprocessor import (adopt_backbone_statistics,
                                                   takes_backbone_statistics)
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample, display_names

SampleList = Sequence[OVDataSample]


def counting_contrastive_loss(image_embeddings: Tensor, caption_embeddings: Tensor,
                              counterfactual_embeddings: Tensor, logit_scale: Tensor) -> Tensor:
    """CountCLIP's counting loss: binary softmax of true caption against counterfactual.

    Args:
        image_embeddings: (B, C) L2-normalised images.
        caption_embeddings: (B, C) L2-normalised true captions.
        counterfactual_embeddings: (B, C) the same captions with a wrong count.
        logit_scale: scalar, CLIP's (exponentiated) logit scale.

    Returns:
        Scalar mean over the batch of ``-log softmax([s_true, s_cf])[0]``.
    """
    true = logit_scale * (image_embeddings * caption_embeddings).sum(-1)
    false = logit_scale * (image_embeddings * counterfactual_embeddings).sum(-1)
    return F.softplus(false - true).mean()


@MODELS.register_module()
class CountCLIP(BaseModel):
    """A trainable open_clip model with CountCLIP's loss and number-prompt counting.

    Samples carry ``caption`` (a sentence stating the count) and ``count_number`` (that
    count) in their metainfo for training and CountBench evaluation; a sample with a
    vocabulary (``classnames``) and no caption is counted per class with number prompts
    (the demo's "how many X"). Predictions: ``pred_count`` (K,) (K = 1 for a caption) and
    ``metainfo['count_probabilities']`` (K, N) over ``numbers``.

    Args:
        backbone: an :class:`OpenCLIPBackbone` config; set ``frozen=False`` to fine-tune.
        numbers: candidate counts (two .. ten as in the paper and CountBench).
        count_template: prompt for class names, with ``{number}`` and ``{name}``.
        count_loss_weight: weight of the counting loss (paper: 1).
        clip_loss_weight: weight of CLIP's contrastive loss over the batch (paper: 1).
        seed: seed of the counterfactual numbers (one generator per model).
        text_cache_dir: on-disk cache of number-prompt embeddings (frozen text towers).
        data_preprocessor: defaults to the backbone's normalisation.
    """

    def __init__(self, backbone: dict | nn.Module, *,
                 numbers: Sequence[int] = COUNTBENCH_NUMBERS,
                 count_template: str = DEFAULT_COUNT_TEMPLATE,
                 count_loss_weight: float = 1.0, clip_loss_weight: float = 1.0,
                 seed: int = 0, text_cache_dir: str | None = None,
                 data_preprocessor: dict | nn.Module | None = None,
                 init_cfg: dict | None = None) -> None:
        use_backbone_stats = takes_backbone_statistics(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor or
                         dict(type='ovperception.OVDataPreprocessor'), init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        if use_backbone_stats:
            adopt_backbone_statistics(self.data_preprocessor, self.backbone)
        self.numbers = tuple(int(n) for n in numbers)
        self.count_template = count_template
        self.count_loss_weight = float(count_loss_weight)
        self.clip_loss_weight = float(clip_loss_weight)
        self.text_cache_dir = text_cache_dir
        self.background_words: tuple[str, ...] = ()  # predictor contract: counts have none
        self._rng = random.Random(seed)
        self._clip_loss = ClipLoss()
        self._prompts: NumberPrompts | None = None
        check_number_prompts(self.numbers, count_template)

    # ------------------------------------------------------------------ text
    def trainable_text_embeddings(self, texts: list[str]) -> Tensor:
        """(T, C) L2-normalised embeddings of ``texts`` with gradients into the text tower."""
        tokens = self.backbone.tokenizer(texts).to(self.backbone.model.logit_scale.device)
        return self.backbone.model.encode_text(tokens, normalize=True)

    @property
    def number_prompts(self) -> NumberPrompts:
        """The number-prompt embeddings of the current weights (rebuilt after training)."""
        if self._prompts is None:
            self._prompts = NumberPrompts(self.backbone.encode_text, self.backbone.weights_id,
                                          self.numbers, self.count_template,
                                          cache_dir=self.text_cache_dir)
        return self._prompts

    @torch.no_grad()
    def encode_vocabulary(self, classnames: Sequence[str]) -> Tensor:
        """(K, N, C) number-prompt embeddings of a vocabulary (display names; cached)."""
        names = display_names(dict(classnames=list(classnames)))
        if not names:
            raise ValueError('empty vocabulary: give at least one class name to count')
        return self.number_prompts.class_embeddings(names)

    def train(self, mode: bool = True) -> CountCLIP:
        """Switch mode; embeddings cached under other weights are dropped when training."""
        if mode:
            self._prompts = None
        return super().train(mode)

    @property
    def is_trainable(self) -> bool:
        """Whether any parameter would receive a gradient (a ``frozen=False`` backbone)."""
        return any(p.requires_grad for p in self.parameters())

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: Tensor, data_samples: SampleList | None = None,
                mode: str = 'tensor') -> Any:
        if mode == 'loss':
            return self.loss(inputs, data_samples or [])
        if mode == 'predict':
            return self.predict(inputs, data_samples or [])
        if mode == 'tensor':
            return self.backbone.image_embedding(inputs)
        raise RuntimeError(f'invalid mode {mode!r}; choose loss, predict or tensor')

    @staticmethod
    def _caption(sample: OVDataSample, where: str) -> tuple[str, int]:
        caption, number = sample.metainfo.get('caption'), sample.metainfo.get('count_number')
        if not caption or number is None:
            raise KeyError(f'CountCLIP training needs metainfo "caption" and "count_number" '
                           f'({where})')
        return str(caption), int(number)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """CLIP's batch contrastive loss and the counting loss over counterfactuals.

        Args:
            inputs: (B, 3, H, W) normalised images.
            data_samples: B samples with ``caption`` and ``count_number``.
        """
        pairs = [self._caption(s, s.metainfo.get('img_path', f'sample {i}'))
                 for i, s in enumerate(data_samples)]
        captions = [caption for caption, _ in pairs]
        counterfactuals = [counterfactual_caption(caption, number, self._rng, self.numbers)
                           for caption, number in pairs]
        images = self.backbone.image_embedding(inputs)
        texts = self.trainable_text_embeddings(captions + counterfactuals)
        true, false = texts[:len(pairs)], texts[len(pairs):]
        scale = self.backbone.model.logit_scale.exp()
        losses = dict(loss_count=self.count_loss_weight *
                      counting_contrastive_loss(images, true, false, scale))
        if self.clip_loss_weight and len(pairs) > 1:
            losses['loss_clip'] = self.clip_loss_weight * self._clip_loss(images, true, scale)
        return losses

    @torch.no_grad()
    def count_images(self, image_embeddings: Tensor,
                     data_samples: SampleList) -> list[NumberPromptCounts]:
        """Per sample, the number chosen by its caption variants or its class prompts."""
        prompts, scale = self.number_prompts, self.backbone.logit_scale
        results = []
        for embedding, sample in zip(image_embeddings, data_samples):
            caption = sample.metainfo.get('caption')
            if caption:
                text = prompts.caption_embeddings(str(caption), sample.metainfo.get('count_number'))
            else:
                names = display_names(sample.metainfo)
                if not names:
                    raise ValueError('CountCLIP needs a caption or a vocabulary per image '
                                     f'({sample.metainfo.get("img_path", "in memory")})')
                text = prompts.class_embeddings(names)
            results.append(choose_numbers(embedding[None], text.to(embedding), scale,
                                          self.numbers))
        return results

    @torch.no_grad()
    def encode_images(self, inputs: Tensor, data_samples: SampleList | None = None) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, C) L2-normalised global embeddings (the
        expensive part, once per image whatever the vocabulary)."""
        return self.backbone.image_embedding(inputs)

    @torch.no_grad()
    def decode(self, encoded: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Fill ``pred_count`` (K,) and ``count_probabilities`` (K, N) of every sample from
        its image embedding (a row of ``encoded``)."""
        for sample, result in zip(data_samples, self.count_images(encoded, data_samples)):
            sample.pred_count = result.counts[0].cpu()
            sample.set_metainfo(dict(count_probabilities=result.probabilities[0].cpu(),
                                     count_numbers=result.numbers))
        return list(data_samples)

    def predict(self, inputs: Tensor, data_samples: SampleList) -> list[OVDataSample]:
        """Counts of a batch: :meth:`encode_images` then :meth:`decode`."""
        return self.decode(self.encode_images(inputs, data_samples), data_samples)


__all__ = ['CountCLIP', 'counting_contrastive_loss']
