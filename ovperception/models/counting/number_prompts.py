"""Image-level counting by number prompts: which of "a photo of two / three / ... dogs"
matches the image best (CountCLIP's zero-shot count)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from ovperception.models.clip.text_cache import TextEmbeddingCache
from ovperception.models.counting.number_words import (COUNTBENCH_NUMBERS,
                                                       DEFAULT_COUNT_TEMPLATE, caption_variants,
                                                       count_prompt)


@dataclass
class NumberPromptCounts:
    """Counts chosen by number prompts.

    Attributes:
        counts: (B, K) the best-matching number per image and class.
        probabilities: (B, K, N) softmax over the N candidate numbers.
        numbers: the N candidate numbers.
    """

    counts: Tensor
    probabilities: Tensor
    numbers: tuple[int, ...]


def choose_numbers(image_embeddings: Tensor, prompt_embeddings: Tensor, logit_scale: float,
                   numbers: Sequence[int]) -> NumberPromptCounts:
    """The number whose prompt is most similar to each image.

    Args:
        image_embeddings: (B, C) L2-normalised global image embeddings.
        prompt_embeddings: (K, N, C) L2-normalised embeddings of each class's N number
            prompts (shared by the batch), or (B, K, N, C) one set per image (captions).
        logit_scale: CLIP's logit scale (the softmax temperature of the probabilities).
        numbers: the N numbers the prompts state, in order.

    Returns:
        :class:`NumberPromptCounts` with (B, K) counts.
    """
    if prompt_embeddings.dim() == 3:
        logits = torch.einsum('bc,knc->bkn', image_embeddings, prompt_embeddings)
    else:
        logits = torch.einsum('bc,bknc->bkn', image_embeddings, prompt_embeddings)
    values = torch.tensor(list(numbers), dtype=torch.float32, device=logits.device)
    return NumberPromptCounts(counts=values[logits.argmax(-1)],
                              probabilities=(logits * logit_scale).softmax(-1),
                              numbers=tuple(int(n) for n in numbers))


def check_number_prompts(numbers: Sequence[int], template: str) -> None:
    """ValueError unless ``numbers`` are distinct and not empty and ``template`` has
    ``{number}`` and ``{name}``."""
    if not numbers or len(set(numbers)) != len(numbers):
        raise ValueError(f'numbers must be distinct and not empty, got {list(numbers)}')
    if '{number}' not in template or '{name}' not in template:
        raise ValueError(f'template {template!r} needs {{number}} and {{name}}')


class NumberPrompts:
    """The number prompts of a vocabulary or a caption, with their embeddings cached.

    Args:
        encode_text: maps sentences to (P, C) L2-normalised text embeddings.
        weights_id: identity of the text tower's weights (the cache key).
        numbers: candidate counts (CountBench: 2 .. 10).
        template: sentence per class and number, with ``{number}`` and ``{name}``.
        cache_dir: on-disk text-embedding cache (None: memory only).
    """

    def __init__(self, encode_text: Callable[[list[str]], Tensor], weights_id: str,
                 numbers: Sequence[int] = COUNTBENCH_NUMBERS,
                 template: str = DEFAULT_COUNT_TEMPLATE, cache_dir: str | None = None) -> None:
        check_number_prompts(numbers, template)
        self.numbers = tuple(int(n) for n in numbers)
        self.template = template
        # Each prompt is a whole sentence: the identity template, one embedding per sentence.
        self.cache = TextEmbeddingCache(encode_text, weights_id, ['{}'], cache_dir=cache_dir)

    def class_prompts(self, names: Sequence[str]) -> list[str]:
        """K * N sentences, class-major ("a photo of two dogs.", "... three dogs." ...)."""
        return [count_prompt(name, number, self.template)
                for name in names for number in self.numbers]

    def class_embeddings(self, names: Sequence[str]) -> Tensor:
        """(K, N, C) embeddings of every class's number prompts (each sentence encoded once
        for the life of the model)."""
        embeddings = self.cache.embed(self.class_prompts(names))
        return embeddings.view(len(names), len(self.numbers), -1)

    def caption_embeddings(self, caption: str, number: int | None) -> Tensor:
        """(1, N, C) embeddings of ``caption`` restated with each candidate number."""
        embeddings = self.cache.embed(caption_variants(caption, number, self.numbers))
        return embeddings.view(1, len(self.numbers), -1)


__all__ = ['NumberPromptCounts', 'NumberPrompts', 'check_number_prompts', 'choose_numbers']
