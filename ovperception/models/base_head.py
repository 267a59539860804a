"""The contract every task head implements."""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

from torch import Tensor, nn

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.structures import OVDataSample, SampleList


class BaseOVHead(nn.Module, metaclass=ABCMeta):
    """Abstract task head: dense CLIP features + text embeddings -> task outputs.

    A head declares only the three calls below; it owns no backbone, no data
    preprocessing and no sliding-window logic (those live in ``OVModel`` and
    ``models/inference.py``).

    * ``forward(feats, text)`` maps the dense features of one window batch to a
      dense output that ``OVModel`` can stitch across sliding windows.
    * ``loss(feats, text, samples)`` returns a dict whose keys start with ``loss_``.
    * ``predict(outputs, text, samples)`` turns the stitched dense output of each
      sample into ``pred_*`` fields plus ``label_names`` and returns the samples.

    A head whose ``predict`` can work on a lazy
    :class:`~ovperception.models.stitched.StitchedWindows` (window outputs that are
    averaged and resized chunk by chunk, never as a full-resolution tensor) sets
    ``takes_stitched_windows = True``; every other head receives (D, H_i, W_i) tensors.
    A subclass that overrides ``predict`` receives tensors again unless it sets the
    flag itself (its ``predict`` may index or do arithmetic on the outputs).
    """

    takes_stitched_windows: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if 'predict' in vars(cls) and 'takes_stitched_windows' not in vars(cls):
            cls.takes_stitched_windows = False

    @abstractmethod
    def forward(self, feats: Tensor, text: TextEmbeddings) -> Tensor:
        """Dense output for a batch of windows.

        Args:
            feats: (B, C, h, w) dense features in the joint embedding space.
            text: embeddings of one vocabulary, (N_names, C).

        Returns:
            (B, D, h, w) dense output (e.g. one score map per name).
        """

    @abstractmethod
    def loss(self, feats: Tensor, text: TextEmbeddings, data_samples: SampleList) -> dict[str, Tensor]:
        """Training losses for a batch sharing one vocabulary."""

    @abstractmethod
    def predict(self, outputs: list[Tensor], text: TextEmbeddings,
                data_samples: SampleList) -> list[OVDataSample]:
        """Fill ``pred_*`` fields from stitched dense outputs, one (D, H_i, W_i) per sample."""

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return ''

    @property
    def is_trainable(self) -> bool:
        """Whether this head has parameters that a training run can update."""
        return any(p.requires_grad for p in self.parameters())


HeadOutput = Any
