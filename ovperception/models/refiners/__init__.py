"""Refiners: take and return data samples (DINO, SAM, PAMR)."""
from ovperception.models.refiners.pamr import PAMRRefiner
from ovperception.models.refiners.sam import SAMImageState, SAMMasks, SAMWrapper
from ovperception.models.refiners.sam_affinity import SAMAffinityAggregation, sam_affinity
from ovperception.models.refiners.sam_refiner import (SAMRefineOptions, SAMRefiner,
                                                     refine_sem_seg_with_sam)

__all__ = ['PAMRRefiner', 'SAMWrapper', 'SAMImageState', 'SAMMasks', 'SAMRefiner',
           'SAMRefineOptions', 'refine_sem_seg_with_sam', 'SAMAffinityAggregation',
           'sam_affinity']
