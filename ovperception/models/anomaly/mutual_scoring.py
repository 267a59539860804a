"""MuSc's mutual scoring (MSM) and re-scoring with a constrained image neighbourhood (RsCIN).

MSM (xrli-U/MuSc ``models/modules/_MSM.py``): for image i and every other image j of the
set, each patch of i gets its Euclidean distance to the nearest patch of j (features
L2-normalised); the patch's score is the mean of the smallest ``int((N - 1) * 0.3)`` of
these N - 1 distances (the release's interval average with ``topmin_min=0,
topmin_max=0.3``). Computed here in blocks of images so that the memory is bounded by
``chunk`` images (features read from a :class:`FeatureStore`).

RsCIN (``models/modules/_RsCIN.py``): image scores min-max normalised over the set, then,
for each k of ``k_list``, replaced by the mean score of each image's k most similar images
(class-embedding dot products; the image itself is the most similar), weighted by those
similarities; the results are averaged over the k.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor


def interval_count(num_images: int, fraction: float = 0.3) -> int:
    """How many of the N - 1 image distances a patch score averages.

    ``int((N - 1) * fraction)`` as released; the release averages nothing (NaN) when that is
    0 (N < 5 at 0.3): here at least 1 (the nearest image), so 2 to 4 images also work.
    """
    if num_images < 2:
        raise ValueError(f'MuSc scores each image against the others of its set: it needs at '
                         f'least 2 images of an object, got {num_images}')
    return max(1, int((num_images - 1) * fraction))


def mutual_scores(read: Callable[[int, int], Tensor], num_images: int, fraction: float = 0.3,
                  chunk: int = 8, start: int = 0, excluded: Tensor | None = None) -> Tensor:
    """(N - start, L) patch scores of images ``start ..`` of a set of N.

    Args:
        read: ``read(a, b) -> (b - a, L, C)`` L2-normalised features of images a .. b - 1.
        num_images: N.
        fraction: of the other images averaged (0.3).
        chunk: images per block (memory: ``chunk^2 L^2`` distances and ``chunk N L`` minima).
        start: score only images ``start ..`` (against all N; a single new image scored
            against a fixed set).
        excluded: (N - start, N) bool, other images not to score each image against (a set
            member given again is scored as that member: its copy is excluded).
    """
    interval_count(num_images, fraction)  # checks N >= 2
    scores = []
    for i0 in range(start, num_images, chunk):
        queries = read(i0, min(i0 + chunk, num_images))  # (bi, L, C)
        bi, length, dim = queries.shape
        nearest = queries.new_empty(bi, length, num_images)
        for j0 in range(0, num_images, chunk):
            keys = queries if j0 == i0 else read(j0, min(j0 + chunk, num_images))
            bj = keys.shape[0]
            dist = torch.cdist(queries.reshape(1, bi * length, dim),
                               keys.reshape(1, bj * length, dim))[0]
            nearest[:, :, j0:j0 + bj] = dist.view(bi, length, bj, length).amin(dim=-1)
        own = torch.arange(bi)
        nearest[own, :, i0 + own] = float('inf')  # an image is not scored against itself
        others = torch.full((bi,), num_images - 1)
        if excluded is not None:
            same = excluded[i0 - start:i0 - start + bi].clone()  # (bi, N)
            same[own, i0 + own] = False
            nearest.masked_fill_(same[:, None, :], float('inf'))
            others = others - same.sum(dim=1)
        counts = [interval_count(int(o) + 1, fraction) for o in others]
        smallest = nearest.topk(max(counts), dim=-1, largest=False).values  # ascending
        for row, count in enumerate(counts):
            scores.append(smallest[row, :, :count].double().mean(dim=-1))
    return torch.stack(scores)


def rescore_with_neighbours(scores: Tensor, embeddings: Tensor,
                            k_list: Sequence[int] = (1, 2, 3)) -> Tensor:
    """RsCIN: (N,) image scores re-scored over each image's k most similar images.

    Args:
        scores: (N,) image scores (the maxima of the maps).
        embeddings: (N, C) L2-normalised image embeddings.
        k_list: neighbourhood sizes (MVTec AD 1, 2, 3; VisA 1, 8, 9); an empty list or one
            holding 0 returns ``scores`` unchanged (as released). k above N uses all N.
    """
    if not k_list or 0 in k_list:
        return scores
    span = scores.max() - scores.min()
    normalised = (scores - scores.min()) / span if span > 0 else torch.zeros_like(scores)
    similarity = (embeddings.float() @ embeddings.float().T)
    n = similarity.shape[0]
    results = []
    for k in k_list:
        keep = similarity.topk(min(int(k), n), dim=1).indices
        weights = torch.zeros_like(similarity).scatter(1, keep, similarity.gather(1, keep))
        weights = weights / weights.sum(dim=1, keepdim=True)
        results.append(weights @ normalised.float())
    return torch.stack(results, dim=-1).mean(dim=-1)
