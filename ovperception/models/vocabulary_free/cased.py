"""CaSED / DenseCaSED: choose an image's class names from a caption database with CLIP.

"Vocabulary-free Image Classification and Semantic Segmentation" (Conti et al.; official code
altndrr/vic for CaSED, altndrr/vicss for DenseCaSED). For each query embedding (the image, or
each cell of DenseCaSED's multi-crop pixel map):

1. retrieve the ``num_captions`` nearest database entries (near-duplicates removed);
2. the text query: the re-normalised mean of those entries' embeddings;
3. candidate names: :func:`candidate_words` of those entries, ``['object']`` when none;
4. each candidate's probability: ``alpha * softmax(s * q_img . w) + (1 - alpha) *
   softmax(s * q_txt . w)`` over the query's own candidates, ``s = 1 / 0.07`` (the official
   classifier's initial temperature), names and captions encoded bare (prompt ``"{}"``).

Image level (CaSED), the names are ranked by that probability. Region level (DenseCaSED),
each pixel-map cell keeps its best name; the image's names are the distinct winners, scored
by their mean winning probability and ranked by the fraction of cells they win.
The chosen names then form the vocabulary of the configured training-free segmenter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import Tensor, nn

from ovperception.models.clip.preprocess import clip_view
from ovperception.models.vocabulary_free.candidate_words import (POS_TAGGERS, PosTagger,
                                                                 candidate_words)
from ovperception.models.vocabulary_free.caption_bank import (DEFAULT_SOURCE, CaptionBank,
                                                              Retrieved, check_source)
from ovperception.registry import MODELS

EMPTY_VOCABULARY_WORD = 'object'
CLASSIFIER_SCALE = 1 / 0.07
EncodeText = Callable[[list[str]], Tensor]


@dataclass
class ChosenName:
    """A name chosen for an image: its probability and the share of the image it won."""

    name: str
    score: float
    coverage: float = 1.0


def cased_probabilities(query: Tensor, retrieved_embeddings: Tensor, names_z: Tensor,
                        alpha: float, scale: float = CLASSIFIER_SCALE) -> Tensor:
    """(K,) probabilities of K candidate names for one query.

    Args:
        query: (C,) normalised image (or cell) embedding.
        retrieved_embeddings: (R, C) normalised embeddings of the retrieved entries.
        names_z: (K, C) normalised embeddings of the candidate names.
    """
    text_query = F.normalize(retrieved_embeddings.float().mean(0), dim=-1)
    image_p = (scale * names_z @ query).softmax(0)
    text_p = (scale * names_z @ text_query).softmax(0)
    return alpha * image_p + (1 - alpha) * text_p


def score_candidates(queries: Tensor, retrieved: Sequence[Retrieved], encode_text: EncodeText,
                     pos_tagger: str | PosTagger | None, alpha: float,
                     scale: float = CLASSIFIER_SCALE) -> list[tuple[list[str], Tensor]]:
    """Per query: its candidate names and their (K_q,) CaSED probabilities.

    Args:
        queries: (Q, C) normalised image (or region) embeddings.
        retrieved: per query, its retrieved database entries.
        encode_text: ``list[str] -> (K, C)`` normalised text embeddings (bare text).
    """
    vocabularies = [candidate_words(r.captions, pos_tagger) or [EMPTY_VOCABULARY_WORD]
                    for r in retrieved]
    distinct = list(dict.fromkeys(w for words in vocabularies for w in words))
    word_embeddings = F.normalize(encode_text(distinct).float().cpu(), dim=-1)
    position = {w: i for i, w in enumerate(distinct)}
    results = []
    for query, found, words in zip(queries.float().cpu(), retrieved, vocabularies):
        words_z = word_embeddings[[position[w] for w in words]]
        results.append((words, cased_probabilities(query, found.embeddings, words_z, alpha,
                                                   scale)))
    return results


def multi_crops(image: Tensor, grid_sizes: Sequence[int], stride_grid: bool,
                output_size: int) -> tuple[Tensor, Tensor]:
    """(3, H, W) normalised image -> ((N, 3, s, s) crops, (N, 4) boxes x, y, w, h in [0, 1]),
    cut and resized as the official ``ToMultiCropTensors`` does (antialiased bilinear)."""
    crops, boxes = [], []
    height, width = image.shape[-2:]
    for grid in grid_sizes:
        strides = [(0.0, 0.0)] if not stride_grid or grid == 1 else [
            (0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5)]
        for stride_top, stride_left in strides:
            cell_h, cell_w = height // grid, width // grid
            full = (cell_h * grid, cell_w * grid)
            resized = TF.resize(image, list(full), antialias=True)
            rows, cols = grid, grid
            if stride_top or stride_left:
                pad_h, pad_w = int(stride_top > 0), int(stride_left > 0)
                resized = TF.crop(resized, cell_h // 2 if pad_h else 0,
                                  cell_w // 2 if pad_w else 0,
                                  resized.shape[1] - pad_h * cell_h,
                                  resized.shape[2] - pad_w * cell_w)
                rows, cols = grid - pad_h, grid - pad_w
                step_h, step_w = resized.shape[1] // rows, resized.shape[2] // cols
                resized = TF.resize(resized, [step_h * rows, step_w * cols], antialias=True)
            else:
                step_h, step_w = cell_h, cell_w
            tiles = resized.unfold(1, step_h, step_h).unfold(2, step_w, step_w)
            tiles = tiles.reshape(3, -1, step_h, step_w).transpose(0, 1)
            crops.append(TF.resize(tiles, [output_size, output_size], antialias=True))
            boxes.extend([(stride_left * cell_w + j * cell_w) / full[1],
                          (stride_top * cell_h + i * cell_h) / full[0],
                          cell_w / full[1], cell_h / full[0]]
                         for i in range(rows) for j in range(cols))
    return torch.cat(crops), torch.tensor(boxes)


def input_size(backbone: nn.Module) -> int:
    """The side of the square input the backbone's weights were trained on (224 for B/16)."""
    size = getattr(getattr(backbone, 'visual', None), 'image_size', 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def accumulate_crops(crop_embeddings: Tensor, boxes: Tensor, map_size: int) -> Tensor:
    """(N, C) crop embeddings and their (N, 4) fractional boxes -> (map_size**2, C)
    normalised cell embeddings: each cell the mean of the crops covering it."""
    cells = torch.zeros(map_size, map_size, crop_embeddings.shape[-1])
    counts = torch.zeros(map_size, map_size)
    for embedding, box in zip(crop_embeddings, (boxes * map_size).int().tolist()):
        x, y, w, h = box
        cells[y:y + h, x:x + w] += embedding
        counts[y:y + h, x:x + w] += 1
    cells = cells / counts.clamp(min=1).unsqueeze(-1)
    return F.normalize(cells, dim=-1).reshape(map_size * map_size, -1)


@MODELS.register_module()
class CaSEDVocabulary(nn.Module):
    """Chooses each image's vocabulary from a caption database (CaSED / DenseCaSED).

    Args:
        database: ``'default'`` (the shipped class-name bank), a caption file or a folder.
        index_dir: where built indexes live (default ``$OVP_CAPTION_INDEX_DIR`` or
            ``~/.cache/ovperception/caption_index``).
        num_captions: entries retrieved per query (official: 10).
        alpha: weight of the image-query probability (official: 0.7).
        pos_tagger: ``'nltk'`` or None (see :mod:`.candidate_words`).
        entries_are_names: each database entry is one candidate name (a bank of class names):
            the caption-to-word chain is skipped and multi-word names stay whole.
        region_grid_sizes: DenseCaSED's crop grids (official [2, 4, 8]); empty: image level.
        region_stride_grid: also the half-cell-shifted grids (official True).
        region_crop_size: side of each resized crop (official 128).
        pixel_map_size: side of the cell map the crops are accumulated into (official 16).
        max_names: at most this many names per image (best first).
        min_score: names scoring below this are dropped (image level).
        min_coverage: region level: names winning less than this share of cells are dropped.
    """

    def __init__(self, database: str = DEFAULT_SOURCE, *, index_dir: str | None = None,
                 num_captions: int = 10, alpha: float = 0.7,
                 pos_tagger: str | None = 'nltk', entries_are_names: bool = False,
                 region_grid_sizes: Sequence[int] = (), region_stride_grid: bool = True,
                 region_crop_size: int = 128, pixel_map_size: int = 16,
                 max_names: int = 10, min_score: float = 0.0,
                 min_coverage: float = 0.0) -> None:
        super().__init__()
        if pos_tagger is not None and pos_tagger not in POS_TAGGERS:
            raise ValueError(f'pos_tagger must be None or one of {sorted(POS_TAGGERS)}, '
                             f'got {pos_tagger!r}')
        check_source(database)
        if num_captions < 1 or max_names < 1 or not 0.0 <= alpha <= 1.0:
            raise ValueError('num_captions and max_names must be >= 1 and alpha in [0, 1]')
        self.database, self.index_dir = database, index_dir
        self.num_captions, self.alpha = int(num_captions), float(alpha)
        self.pos_tagger = None if entries_are_names else pos_tagger
        self.entries_are_names = bool(entries_are_names)
        self.region_grid_sizes = tuple(int(g) for g in region_grid_sizes)
        self.region_stride_grid = bool(region_stride_grid)
        self.region_crop_size, self.pixel_map_size = int(region_crop_size), int(pixel_map_size)
        self.max_names, self.min_score = int(max_names), float(min_score)
        self.min_coverage = float(min_coverage)
        self._bank: CaptionBank | None = None
        self._word_memo: dict[str, Tensor] = {}  # name -> (C,) embedding, one text encoder

    def _encode_words(self, backbone: nn.Module) -> EncodeText:
        """``backbone.encode_text`` that encodes each distinct word once per selector."""
        def encode(words: list[str]) -> Tensor:
            new = [w for w in words if w not in self._word_memo]
            if new:
                self._word_memo.update(zip(new, backbone.encode_text(new).float().cpu()))
            return torch.stack([self._word_memo[w] for w in words])
        return encode

    def bank(self, backbone: nn.Module) -> CaptionBank:
        """The database's index for ``backbone``'s text encoder (built on first use)."""
        if self._bank is None:
            self._bank = CaptionBank.from_source(self.database, backbone.encode_text,
                                                 backbone.weights_id, self.index_dir)
        return self._bank

    def _scored(self, backbone: nn.Module, queries: Tensor) -> list[tuple[list[str], Tensor]]:
        retrieved = self.bank(backbone).retrieve(queries, self.num_captions)
        if self.entries_are_names:
            return self._scored_names(backbone, queries, retrieved)
        return score_candidates(queries, retrieved, self._encode_words(backbone),
                                self.pos_tagger, self.alpha)

    def _scored_names(self, backbone: nn.Module, queries: Tensor,
                      retrieved: list[Retrieved]) -> list[tuple[list[str], Tensor]]:
        """Entries are names: the candidates are the retrieved entries themselves."""
        return [(found.captions, cased_probabilities(query, found.embeddings,
                                                     found.embeddings.float(), self.alpha))
                for query, found in zip(queries.float().cpu(), retrieved)]

    @torch.no_grad()
    def choose(self, backbone: nn.Module, image: Tensor) -> list[ChosenName]:
        """The names chosen for one (3, H, W) normalised image, best first."""
        if not self.region_grid_sizes:
            view = clip_view(image.float(), input_size(backbone))
            words, probs = self._scored(backbone, backbone.image_embedding(view[None]))[0]
            order = probs.argsort(descending=True).tolist()
            return [ChosenName(words[i], float(probs[i])) for i in order
                    if float(probs[i]) >= self.min_score][:self.max_names]
        crops, boxes = multi_crops(image.float(), self.region_grid_sizes,
                                   self.region_stride_grid, self.region_crop_size)
        crop_z = backbone.image_embedding(crops).float().cpu()
        cells = accumulate_crops(crop_z, boxes, self.pixel_map_size)
        return self._winners(self._scored(backbone, cells))

    def _winners(self, scored: list[tuple[list[str], Tensor]]) -> list[ChosenName]:
        wins: dict[str, list[float]] = {}
        for words, probs in scored:
            best = int(probs.argmax())
            wins.setdefault(words[best], []).append(float(probs[best]))
        total = len(scored)
        chosen = [ChosenName(name, sum(p) / len(p), len(p) / total) for name, p in wins.items()
                  if len(p) / total >= self.min_coverage]
        chosen.sort(key=lambda c: (-c.coverage, -c.score))
        return chosen[:self.max_names]
