"""Refiners: take and return data samples (DINO, SAM, PAMR)."""
from ovperception.models.refiners.dino import DINOEncoder
from ovperception.models.refiners.dinoiser import CLIPDINOiserBackbone, CLIPDINOiserDistiller
from ovperception.models.refiners.pamr import PAMRRefiner
from ovperception.models.refiners.proxyclip import ProxyCLIPBackbone

__all__ = ['PAMRRefiner', 'DINOEncoder', 'ProxyCLIPBackbone', 'CLIPDINOiserBackbone',
           'CLIPDINOiserDistiller']
