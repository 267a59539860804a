"""FC-CLIP's geometric ensemble of in-vocabulary and out-of-vocabulary class probabilities.

For mask proposal q and class k (excluding the void class):

    p_in  = softmax_k(in-vocabulary logits without void)
    p_out = softmax_k(out-of-vocabulary logits)
    p     = p_in^(1 - a_k) * p_out^(a_k),   a_k = alpha for classes seen in training,
                                            a_k = beta  for unseen ones
    p_ens = softmax_k(log p) * (1 - p_void),  p_void = softmax(in logits with void)[void]

exactly as released (no epsilon inside the log). With ``valid`` given (the official
``ENSEMBLE_ON_VALID_MASK=True``, used by its ResNet configs), proposals whose mask covers no
pixel of the CLIP feature map keep p_in; by default every proposal is ensembled.
The result (Q, K + 1) holds the ensembled class probabilities and p_void last.
"""
from __future__ import annotations

import torch
from torch import Tensor


def geometric_ensemble(in_logits: Tensor, out_logits: Tensor, seen: Tensor, alpha: float,
                       beta: float, valid: Tensor | None = None) -> Tensor:
    """Combine the two classifiers.

    Args:
        in_logits: (..., K + 1) in-vocabulary logits, void last.
        out_logits: (..., K) out-of-vocabulary logits (mask-pooled frozen CLIP vs text).
        seen: (K,) bool, classes of the training vocabulary.
        alpha: out-of-vocabulary weight for seen classes (FC-CLIP: 0.4).
        beta: out-of-vocabulary weight for unseen classes (FC-CLIP: 0.8).
        valid: (...) bool, proposals with a non-empty pooling mask (None: all).

    Returns:
        (..., K + 1) probabilities: ensembled classes times (1 - p_void), then p_void.
    """
    num_classes = out_logits.shape[-1]
    if in_logits.shape[-1] != num_classes + 1:
        raise ValueError(f'in_logits need K + 1 = {num_classes + 1} entries (void last), got '
                         f'{in_logits.shape[-1]}')
    p_in = in_logits[..., :-1].softmax(-1)
    p_out = out_logits.softmax(-1)
    weight = torch.where(seen.to(p_in.device), alpha, beta).to(p_in.dtype)
    if valid is not None:
        weight = weight * valid[..., None].to(p_in.dtype)
    log_p = (p_in ** (1 - weight) * p_out ** weight).log()
    p_void = in_logits.softmax(-1)[..., -1:]
    return torch.cat([log_p.softmax(-1) * (1 - p_void), p_void], dim=-1)
