"""Fine-tuning CLIP towers for dense features by distillation (DeCLIP)."""
from __future__ import annotations

from ovperception.models.distillation.declip import DeCLIPDistiller

__all__ = ['DeCLIPDistiller']
