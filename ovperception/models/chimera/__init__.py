"""Chimera-Seg (Chen et al., 2025, arXiv 2506.22032): a trainable segmentation body with a
CLIP Semantic Head made of CLIP's last frozen blocks, trained with Selective Global
Distillation and a Semantic Alignment loss (built from the paper; no official code)."""
from ovperception.models.chimera.backbone import ChimeraBackbone
from ovperception.models.chimera.body import TimmSegBody
from ovperception.models.chimera.losses import (selective_global_distillation,
                                                semantic_alignment_loss, sgd_keep_ratio)
from ovperception.models.chimera.model import ChimeraSeg

__all__ = ['ChimeraBackbone', 'ChimeraSeg', 'TimmSegBody', 'selective_global_distillation',
           'semantic_alignment_loss', 'sgd_keep_ratio']
