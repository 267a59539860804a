"""Vocabulary-free annotation: the names a vocabulary-free config (``model.vocabulary_selector``)
chooses for each image, stored in ``OUT/chosen_names.json`` with their scores.

A rerun with the same config, weights and unchanged images reads the file instead of building
the model; a changed image or option chooses again.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import torch
from mmengine.config import Config

from ovperception.annotation.image_vocabularies import CHOSEN_NAMES_FILE
from ovperception.annotation.settings import AnnotateSettings
from ovperception.annotation.sources import InputItem
from ovperception.apis import OVPredictor
from ovperception.apis.predictor import chosen_name_records
from ovperception.utils.atomic import atomic_write_json


def _input_key(item: InputItem) -> list:
    stat = os.stat(item.path)
    return [os.path.abspath(item.path), stat.st_size, stat.st_mtime_ns]


class NameChooser:
    """Chooses, stores and reloads each image's names.

    Args:
        settings: the command's settings (config options, weights, seed, output folder).
        config: the vocabulary-free config's path.
        cfg: that config, parsed (the model is built from a copy).
        device: where the model runs.
    """

    def __init__(self, settings: AnnotateSettings, config: str, cfg: Config,
                 device: str) -> None:
        self.settings, self.config, self.cfg, self.device = settings, config, cfg, device
        self.predictor: OVPredictor | None = None
        self.path = os.path.join(settings.out, CHOSEN_NAMES_FILE)
        self.options = dict(config=os.path.abspath(config), weights=settings.weights,
                            cfg_options=repr(sorted(settings.cfg_options.items())),
                            seed=settings.seed)

    def _stored(self) -> dict:
        try:
            with open(self.path, encoding='utf-8') as handle:
                stored = json.load(handle)
        except (OSError, ValueError):
            return {}
        return stored.get('images', {}) if stored.get('options') == self.options else {}

    def _build(self) -> OVPredictor:
        from ovperception.annotation.model import build_predictor
        torch.manual_seed(self.settings.seed)
        return build_predictor(self.cfg, 'seg', self.settings.weights, self.device, [],
                               cfg_options=self.settings.cfg_options)

    def choose(self, inputs: Sequence[InputItem]) -> dict[str, list[str]]:
        """Per input name, the chosen names (best first); ``chosen_names.json`` updated."""
        from tqdm import tqdm
        videos = [i.path for i in inputs if i.kind != 'image']
        if videos:
            raise ValueError(f'vocabulary-free annotation takes images; {videos[0]} is a video')
        stored, images = self._stored(), {}
        for item in tqdm(inputs, desc='choosing names', disable=not self.settings.progress):
            key = _input_key(item)
            entry = stored.get(item.name)
            if entry is None or entry.get('input') != key:
                if self.predictor is None:
                    self.predictor = self._build()
                self.predictor.set_image(item.path)
                chosen = self.predictor.choose_vocabulary()
                entry = dict(input=key, chosen=chosen_name_records(chosen))
            images[item.name] = entry
        atomic_write_json(self.path, dict(options=self.options, images=images))
        return {name: [c['name'] for c in entry['chosen']] for name, entry in images.items()}
