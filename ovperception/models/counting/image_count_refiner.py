"""The image-level count by number prompts, next to a dense counter's count.

A dense counter (CLIP-EBC's density, zero-shot points -> SAM) sums local evidence; a
count-aware CLIP (CountCLIP) reads "how many" from the whole image. Added as a refiner of
a counting config, :class:`ImageLevelCountRefiner` stores its answer beside the dense one,
so the demo, annotate and the web app show both.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ovperception.models.clip.preprocess import clip_resize_center_crop
from ovperception.models.counting.number_prompts import NumberPrompts, choose_numbers
from ovperception.models.counting.number_words import COUNTBENCH_NUMBERS, DEFAULT_COUNT_TEMPLATE
from ovperception.registry import MODELS
from ovperception.structures import (IMAGE_COUNT_KEY, IMAGE_COUNT_PROBABILITIES_KEY,
                                     OVDataSample, display_names)



@MODELS.register_module()
class ImageLevelCountRefiner(nn.Module):
    """Per class, the number (two .. ten) whose prompt a CLIP model finds most likely.

    ``refine(images, samples)`` leaves the dense prediction as it is and sets
    ``metainfo['image_level_count']`` (K,) and ``metainfo
    ['image_level_count_probabilities']`` (K, N) of every sample.

    Args:
        backbone: the (count-aware) CLIP model, an ``OpenCLIPBackbone`` config: e.g. a
            CountCLIP checkpoint (``pretrained='work_dirs/countclip/clip.pt'``).
        input_size: CLIP's input side; the image is resized (short side, bicubic) and
            centre-cropped to it as CLIP's own preprocessing does.
        numbers: candidate counts.
        template: prompt per class and number, with ``{number}`` and ``{name}``.
    """

    def __init__(self, backbone: dict | nn.Module, input_size: int = 224,
                 numbers: Sequence[int] = COUNTBENCH_NUMBERS,
                 template: str = DEFAULT_COUNT_TEMPLATE) -> None:
        super().__init__()
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        self.input_size = int(input_size)
        self.prompts = NumberPrompts(self.backbone.encode_text, self.backbone.weights_id,
                                     numbers, template)
        self.register_buffer('mean', torch.tensor(self.backbone.mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(self.backbone.std).view(1, 3, 1, 1),
                             persistent=False)

    def clip_input(self, image: Tensor) -> Tensor:
        """(3, h, w) RGB 0..255 -> (1, 3, S, S) normalised, resized and centre-cropped."""
        pixels = image.detach().clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0)
        cropped = clip_resize_center_crop(pixels.cpu().numpy(), self.input_size)
        tensor = torch.from_numpy(cropped).permute(2, 0, 1)[None]
        return (tensor.to(self.mean) - self.mean) / self.std

    @torch.no_grad()
    def refine(self, images: list[Tensor], samples: list[OVDataSample]) -> list[OVDataSample]:
        """Add the image-level counts of every sample's vocabulary."""
        if len(images) != len(samples):
            raise ValueError(f'{len(images)} images for {len(samples)} samples')
        for image, sample in zip(images, samples):
            names = display_names(sample.metainfo)
            embedding = self.backbone.image_embedding(self.clip_input(image))
            text = self.prompts.class_embeddings(names).to(embedding)
            result = choose_numbers(embedding, text, self.backbone.logit_scale,
                                    self.prompts.numbers)
            sample.set_metainfo({IMAGE_COUNT_KEY: result.counts[0].cpu(),
                                 IMAGE_COUNT_PROBABILITIES_KEY: result.probabilities[0].cpu()})
        return samples


__all__ = ['ImageLevelCountRefiner']
