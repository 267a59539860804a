"""Text-embedding cache: every (backbone weights, template set, name) is encoded once.

The cache lives in memory for the life of a model and, when ``cache_dir`` is
set and the backbone weights have a stable identity (a pretrained tag or a
file, not a random init), on disk across runs.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Callable, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor

from ovperception.models.clip.prompts import get_templates, template_set_key

EncodeFn = Callable[[list[str]], Tensor]


class TextEmbeddingCache:
    """Per-name prompt-ensemble embeddings, computed once and reused.

    Args:
        encode_text: maps a list of prompts to (P, C) L2-normalised embeddings.
        weights_id: identity of the text tower's weights; ids containing
            ``':random:'`` are never written to disk.
        template_set: template-set name or explicit list of templates.
        cache_dir: optional folder for the on-disk cache.
        normalise_each: L2-normalise each template's embedding before the mean (CLIP's
            ImageNet recipe, the default); False averages the raw embeddings (WinCLIP
            reimplementations, AnoVL); the mean is normalised either way unless
            ``normalise_mean=False``.
        normalise_mean: L2-normalise the per-name mean (default). False keeps the raw mean
            (with ``normalise_each=False``: the plain average of the tower's outputs, which
            Talk2DINO feeds to its text-to-DINOv2 projection).
    """

    def __init__(self, encode_text: EncodeFn, weights_id: str,
                 template_set: str | Sequence[str] = 'imagenet80', *,
                 cache_dir: str | None = None, normalise_each: bool = True,
                 normalise_mean: bool = True) -> None:
        self.encode_text = encode_text
        self.normalise_each = normalise_each
        self.normalise_mean = normalise_mean
        self.weights_id = weights_id
        self.templates = get_templates(template_set)
        self.template_key = (template_set_key(template_set) + ('' if normalise_each else '|raw-mean')
                             + ('' if normalise_mean else '|unnormalised'))
        self.cache_dir = cache_dir
        self._memory: dict[str, Tensor] = {}
        self.num_encoded_names = 0
        self._disk_loaded = False

    @property
    def disk_path(self) -> str | None:
        """The on-disk cache file, or None when disk caching does not apply."""
        if not self.cache_dir or ':random:' in self.weights_id:
            return None
        digest = hashlib.sha1(f'{self.weights_id}|{self.template_key}'.encode()).hexdigest()[:16]
        return os.path.join(self.cache_dir, f'text_embeddings_{digest}.pt')

    def embed(self, names: Sequence[str]) -> Tensor:
        """(N, C) prompt-ensemble embeddings of ``names`` (in order; L2-normalised unless
        ``normalise_mean=False``)."""
        self._load_disk_once()
        missing = [n for n in dict.fromkeys(names) if n not in self._memory]
        if missing:
            for name, embedding in zip(missing, self._encode(missing)):
                self._memory[name] = embedding
            self.num_encoded_names += len(missing)
            self._save_disk()
        return torch.stack([self._memory[n] for n in names])

    def _encode(self, names: list[str]) -> Tensor:
        """Prompt ensemble: mean of (normalised, unless ``normalise_each=False``) template
        embeddings, re-normalised.

        Returns:
            (len(names), C) tensor on the CPU.
        """
        prompts = [template.format(name) for name in names for template in self.templates]
        embeddings = self.encode_text(prompts).float().cpu()
        if self.normalise_each:
            embeddings = embeddings / embeddings.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        per_name = embeddings.view(len(names), len(self.templates), -1).mean(dim=1)
        if not self.normalise_mean:
            return per_name
        return per_name / per_name.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def _load_disk_once(self) -> None:
        if self._disk_loaded:
            return
        self._disk_loaded = True
        path = self.disk_path
        if path is None or not os.path.isfile(path):
            return
        try:
            stored = torch.load(path, map_location='cpu', weights_only=True)
            if stored.get('weights_id') != self.weights_id or \
                    stored.get('templates') != list(self.templates):
                return
            self._memory.update(stored['embeddings'])
        except Exception as error:  # a corrupt cache file is rebuilt, never fatal
            print_log(f'ignoring unreadable text-embedding cache {path}: {error}',
                      logger='current', level=30)

    def _save_disk(self) -> None:
        path = self.disk_path
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        payload = dict(weights_id=self.weights_id, templates=list(self.templates),
                       embeddings=dict(self._memory))
        handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
        os.close(handle)
        try:
            torch.save(payload, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
