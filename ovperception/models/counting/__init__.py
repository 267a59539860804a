"""Zero-shot class-agnostic counting (point -> segment -> count) on CLIP and SAM."""
from ovperception.models.counting.mask_scores import boxes_to_masks, pool_in_masks
from ovperception.models.counting.peaks import find_peaks
from ovperception.models.counting.zero_shot import ZeroShotCountingHead

__all__ = ['ZeroShotCountingHead', 'find_peaks', 'pool_in_masks', 'boxes_to_masks']
