"""Refiners: take and return data samples (DINO, SAM, PAMR, DenseCRF)."""
from ovperception.models.refiners.dense_crf import DenseCRF
from ovperception.models.refiners.dino import DINOEncoder
from ovperception.models.refiners.dinoiser import CLIPDINOiserBackbone, CLIPDINOiserDistiller
from ovperception.models.refiners.pamr import PAMRRefiner
from ovperception.models.refiners.proxyclip import ProxyCLIPBackbone
from ovperception.models.refiners.region_masks import PrecomputedRegionMasks, RegionVoteRefiner
from ovperception.models.refiners.sam import SAMImageState, SAMMasks, SAMWrapper
from ovperception.models.refiners.sam2_masks import SAM2MaskGenerator
from ovperception.models.refiners.sam2_wrapper import SAM2Wrapper
from ovperception.models.refiners.sam_affinity import SAMAffinityAggregation, sam_affinity
from ovperception.models.refiners.sam_refiner import (SAMRefineOptions, SAMRefiner,
                                                     refine_sem_seg_with_sam)

__all__ = ['DenseCRF', 'DINOEncoder', 'CLIPDINOiserBackbone', 'CLIPDINOiserDistiller', 'PAMRRefiner',
           'SAMImageState', 'SAMMasks', 'SAMWrapper', 'SAMAffinityAggregation', 'sam_affinity',
           'SAMRefineOptions', 'SAMRefiner', 'refine_sem_seg_with_sam', 'ProxyCLIPBackbone',
           'PrecomputedRegionMasks', 'RegionVoteRefiner', 'SAM2MaskGenerator', 'SAM2Wrapper']
