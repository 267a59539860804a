"""Refiners: take and return data samples (DINO, SAM, PAMR)."""
from ovperception.models.refiners.pamr import PAMRRefiner

__all__ = ['PAMRRefiner']
