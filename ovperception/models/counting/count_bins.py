"""Integer count bins of CLIP-EBC: block counts -> bin labels, bin probabilities -> counts.

CLIP-EBC classifies the count of every image block into one of a few integer-valued
bins, e.g. ``{0}, {1}, {2}, {3}, {4, 5, ...}`` (``truncation=4``). Each bin ``b`` has a
representative value ``r_b`` (its mean count on the training set, ``'average'``, or the
middle of the bin); the expected count of a block is ``sum_b p_b * r_b``.

Bins are written as lists of one or two numbers: ``[n]`` is the single value ``n``,
``[lo, hi]`` the integers ``lo .. hi`` and ``[lo, inf]`` every integer ``>= lo``.
They must start at 0 and tile the non-negative integers without gaps; a last bin
without ``inf`` receives every larger count too (huge crowds are never dropped).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ovperception.models.counting.number_words import number_word, plural

INF = float('inf')
#: CLIP-EBC's bins with ``truncation=4`` ({0}, {1}, {2}, {3}, {4+}).
EBC_BINS_T4: tuple[tuple[float, ...], ...] = ((0,), (1,), (2,), (3,), (4, INF))
#: ``truncation=2`` ({0}, {1}, {2+}).
EBC_BINS_T2: tuple[tuple[float, ...], ...] = ((0,), (1,), (2, INF))

#: Sentence templates per bin kind in CLIP-EBC's ``'word'`` mode; ``{name}`` singular,
#: ``{names}`` plural (:func:`~ovperception.models.counting.number_words.plural`; CLIP-EBC
#: itself only writes "person" / "people"), ``{n}``, ``{lo}``, ``{hi}``, ``{below}`` (= lo - 1) numbers (words or
#: digits). The open bin ``[lo, inf]`` reads "more than {lo}" as in CLIP-EBC (its
#: ``{4, 5, ...}`` bin is "There are more than four people.").
DEFAULT_PROMPTS: dict[str, str] = dict(
    zero='There is no {name}.', one='There is one {name}.', many='There are {n} {names}.',
    range='There are between {lo} and {hi} {names}.', open='There are more than {lo} {names}.')
#: CLIP-EBC's ``'number'`` mode writes every count in digits: "There is 0 person.",
#: "There is 1 person.", "There are 2 people.", "There are more than 4 people.".
NUMBER_PROMPTS: dict[str, str] = dict(DEFAULT_PROMPTS, zero='There is {n} {name}.',
                                      one='There is {n} {name}.')

def _number(value: int, prompt_type: str) -> str:
    return number_word(value) if prompt_type == 'word' else str(value)


@dataclass(frozen=True)
class CountBins:
    """Validated integer bins with their representative counts.

    Attributes:
        lows: (n,) inclusive lower bound of every bin.
        highs: (n,) inclusive upper bound (``inf`` for an open last bin).
        representatives: (n,) count ``r_b`` a block of bin ``b`` stands for.
    """

    lows: tuple[int, ...]
    highs: tuple[float, ...]
    representatives: tuple[float, ...]

    @classmethod
    def build(cls, bins: Sequence[Sequence[float]] = EBC_BINS_T4,
              representatives: str | Sequence[float] = 'middle') -> CountBins:
        """Parse bins and choose representatives.

        Args:
            bins: e.g. ``[[0], [1], [2], [3], [4, inf]]``.
            representatives: ``'middle'`` ((lo + hi) / 2; an open bin takes ``lo``) or one
                value per bin (e.g. CLIP-EBC's training-set bin means, see
                :func:`bin_averages`), each inside its bin.

        Raises:
            ValueError: fewer than two bins, a gap or overlap, non-integers, a
                representative outside its bin.
        """
        if len(bins) < 2:
            raise ValueError(f'need at least two count bins, got {list(bins)}')
        lows: list[int] = []
        highs: list[float] = []
        for index, spec in enumerate(bins):
            values = [float(v) for v in spec]
            if len(values) not in (1, 2):
                raise ValueError(f'bin {index} {list(spec)}: give [n] or [lo, hi]')
            low, high = values[0], values[-1]
            if not float(low).is_integer() or not (math.isinf(high) or float(high).is_integer()):
                raise ValueError(f'bin {index} {list(spec)}: bounds must be integers (or inf)')
            if high < low:
                raise ValueError(f'bin {index} {list(spec)}: upper bound below lower bound')
            expected_low = 0 if index == 0 else highs[-1] + 1
            if low != expected_low:
                raise ValueError(f'bins must tile 0, 1, 2, ... without gaps: bin {index} '
                                 f'{list(spec)} should start at {int(expected_low)}')
            if math.isinf(high) and index != len(bins) - 1:
                raise ValueError(f'only the last bin may be open (inf), not bin {index}')
            lows.append(int(low))
            highs.append(high)
        if isinstance(representatives, str):
            if representatives != 'middle':
                raise ValueError(f"representatives must be 'middle' or one value per bin, got "
                                 f'{representatives!r}')
            reps = [float(lo) if math.isinf(hi) else (lo + hi) / 2.0
                    for lo, hi in zip(lows, highs)]
        else:
            reps = [float(r) for r in representatives]
            if len(reps) != len(lows):
                raise ValueError(f'{len(reps)} representatives for {len(lows)} bins')
            for index, (rep, lo, hi) in enumerate(zip(reps, lows, highs)):
                if not lo <= rep <= hi:
                    raise ValueError(f'representative {rep} of bin {index} lies outside '
                                     f'[{lo}, {hi}]')
        return cls(tuple(lows), tuple(highs), tuple(reps))

    @property
    def num_bins(self) -> int:
        return len(self.lows)

    def labels(self, counts: Tensor) -> Tensor:
        """Bin index of every block count (any shape), as CLIP-EBC's ``DACELoss._bin_count``.

        A count takes the bin whose closed range ``lo <= count <= hi`` holds it, compared as
        real numbers: a non-integer count inside a range or above the open last bin's
        ``lo`` takes that bin (4.5 and 7.25 -> ``{4+}``), one between two integer bins (1.5,
        3.999) or a negative one lies in no bin and is labelled 0, as in CLIP-EBC. Counts
        above a closed last bin take the last bin (CLIP-EBC's bins always end open, so this
        never differs from it there).

        Args:
            counts: block counts (floats or integers).
        """
        counts = counts.float()
        labels = torch.zeros(counts.shape, dtype=torch.long, device=counts.device)
        last = self.num_bins - 1
        for index, (low, high) in enumerate(zip(self.lows, self.highs)):
            upper = math.inf if index == last else high
            labels[(counts >= low) & (counts <= upper)] = index
        return labels

    def expected_count(self, probs: Tensor, dim: int = 1) -> Tensor:
        """``sum_b p_b * r_b`` over ``dim`` (bin probabilities -> expected block count)."""
        reps = torch.tensor(self.representatives, dtype=probs.dtype, device=probs.device)
        shape = [1] * probs.dim()
        shape[dim] = self.num_bins
        return (probs * reps.view(shape)).sum(dim)

    def prompts(self, name: str, templates: dict[str, str] | None = None,
                prompt_type: str = 'word', *, plural_name: str | None = None) -> list[str]:
        """One sentence per bin for the class ``name`` (``"There are two people."``).

        For ``'person'`` these are the sentences of CLIP-EBC's ``format_count`` for every bin
        list of its configs (tests/models/test_count_prompts_golden.py).

        Args:
            name: class name (singular, e.g. ``'person'``).
            templates: overrides of :data:`DEFAULT_PROMPTS` / :data:`NUMBER_PROMPTS` (keys
                zero/one/many/range/open).
            prompt_type: ``'word'`` (two) or ``'number'`` (2), as CLIP-EBC's ``prompt_type``.
            plural_name: the ``{names}`` form; default :func:`plural` of ``name``.
        """
        if prompt_type not in ('word', 'number'):
            raise ValueError(f"prompt_type must be 'word' or 'number', got {prompt_type!r}")
        defaults = DEFAULT_PROMPTS if prompt_type == 'word' else NUMBER_PROMPTS
        forms = {**defaults, **(templates or {})}
        words = dict(name=name, names=plural(name) if plural_name is None else plural_name)
        sentences = []
        for low, high in zip(self.lows, self.highs):
            num = (lambda v: _number(int(v), prompt_type))
            if math.isinf(high):
                sentences.append(forms['open'].format(lo=num(low), below=num(low - 1),
                                                      **words))
            elif low != high:
                sentences.append(forms['range'].format(lo=num(low), hi=num(high), **words))
            elif low == 0:
                sentences.append(forms['zero'].format(n=num(0), **words))
            elif low == 1:
                sentences.append(forms['one'].format(n=num(1), **words))
            else:
                sentences.append(forms['many'].format(n=num(low), **words))
        return sentences


def bin_averages(bins: CountBins, block_counts: Tensor) -> list[float]:
    """CLIP-EBC's ``'average'`` representatives: the mean block count inside each bin.

    Args:
        bins: the bins.
        block_counts: block counts of a training set (any shape).

    Returns:
        One value per bin; a bin no block falls into keeps its ``'middle'`` value.
    """
    counts = block_counts.float().flatten()
    labels = bins.labels(counts)
    sums = torch.zeros(bins.num_bins).index_add_(0, labels, counts)
    totals = torch.bincount(labels, minlength=bins.num_bins).float()
    middle = CountBins.build([[lo] if lo == hi else [lo, hi]
                              for lo, hi in zip(bins.lows, bins.highs)]).representatives
    return [float(s / t) if t > 0 else m for s, t, m in zip(sums, totals, middle)]


def _block_grid(size: tuple[int, int], block_size: int) -> tuple[int, int]:
    """(ceil(H / b), ceil(W / b)) blocks over an (H, W) image."""
    return -(-size[0] // block_size), -(-size[1] // block_size)


def _points_and_labels(points: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
    """(N, 2) float xy points and their (N,) long class indices (all 0 when None)."""
    points = points.reshape(-1, 2).float()
    labels = (torch.zeros(len(points), dtype=torch.long, device=points.device) if labels is None
              else labels.reshape(-1).long().to(points.device))
    return points, labels


def _block_histogram(labels: Tensor, block_rows: Tensor, block_cols: Tensor, num_classes: int,
                     grid: tuple[int, int]) -> Tensor:
    """(K, rows, cols) float counts of (N,) marks of class ``labels`` in block
    (``block_rows``, ``block_cols``)."""
    rows, cols = grid
    flat = (labels * rows + block_rows) * cols + block_cols
    counts = torch.bincount(flat, minlength=num_classes * rows * cols).float()
    return counts.view(num_classes, rows, cols)


def points_to_block_counts(points: Tensor, size: tuple[int, int], block_size: int,
                           labels: Tensor | None = None, num_classes: int = 1) -> Tensor:
    """Number of annotated points inside every ``block_size`` x ``block_size`` block.

    Args:
        points: (N, 2) xy pixel coordinates (N may be 0); points outside the image
            (``x < 0``, ``x >= W`` ...) are ignored.
        size: (H, W) image size; the grid has ``ceil(H / b) x ceil(W / b)`` blocks.
        block_size: block side b in pixels.
        labels: optional (N,) class index of every point (default all 0).
        num_classes: K.

    Returns:
        (K, ceil(H / b), ceil(W / b)) float counts (their sum is the number of points inside).
    """
    height, width = int(size[0]), int(size[1])
    rows, cols = _block_grid((height, width), block_size)
    points, labels = _points_and_labels(points, labels)
    inside = ((points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0)
              & (points[:, 1] < height) & (labels >= 0) & (labels < num_classes))
    points, labels = points[inside], labels[inside]
    return _block_histogram(labels, (points[:, 1] // block_size).long(),
                            (points[:, 0] // block_size).long(), num_classes, (rows, cols))


def points_to_density_target(points: Tensor, image_size: tuple[int, int], block_size: int,
                             labels: Tensor | None = None, num_classes: int = 1,
                             grid_size: tuple[int, int] | None = None) -> Tensor:
    """Block counts of CLIP-EBC's density target (``datasets.utils.generate_density_map``).

    Every annotated point marks its pixel (coordinates truncated to integers and clamped to
    the image, as CLIP-EBC's ``label.long().clamp(0, W - 1)``) with 1.0 -- an assignment, so a
    pixel holding two or more annotations still counts once -- and the blocks sum the marked
    pixels. :func:`points_to_block_counts` (every point counts, points outside are dropped) is
    the ``density_target='points'`` option of the head.

    Args:
        points: (N, 2) xy pixel coordinates (N may be 0).
        image_size: (H, W) image the points are clamped to.
        block_size: block side b in pixels.
        labels: optional (N,) class index of every point (default all 0); points of a class
            outside ``0 .. num_classes - 1`` are ignored.
        num_classes: K.
        grid_size: (H', W') >= ``image_size`` the block grid covers (a padded batch);
            default ``image_size``.

    Returns:
        (K, ceil(H' / b), ceil(W' / b)) float counts.
    """
    height, width = int(image_size[0]), int(image_size[1])
    grid_h, grid_w = (height, width) if grid_size is None else (int(grid_size[0]),
                                                                int(grid_size[1]))
    rows, cols = _block_grid((grid_h, grid_w), block_size)
    points, labels = _points_and_labels(points, labels)
    keep = (labels >= 0) & (labels < num_classes)
    counts = torch.zeros(num_classes * rows * cols, device=points.device)
    if height <= 0 or width <= 0 or not bool(keep.any()):
        return counts.view(num_classes, rows, cols)
    points, labels = points[keep], labels[keep]
    col = points[:, 0].trunc().long().clamp(0, width - 1)
    row = points[:, 1].trunc().long().clamp(0, height - 1)
    pixels = torch.unique((labels * height + row) * width + col)  # one mark per pixel
    labels, pixel = pixels // (height * width), pixels % (height * width)
    row, col = pixel // width, pixel % width
    return _block_histogram(labels, row // block_size, col // block_size, num_classes,
                            (rows, cols))

