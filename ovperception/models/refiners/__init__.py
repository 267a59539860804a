"""Refiners: take and return data samples (DINO, SAM, PAMR)."""
from ovperception.models.refiners.pamr import PAMRRefiner
from ovperception.models.refiners.sam import SAMImageState, SAMMasks, SAMWrapper

__all__ = ['PAMRRefiner', 'SAMWrapper', 'SAMImageState', 'SAMMasks']
