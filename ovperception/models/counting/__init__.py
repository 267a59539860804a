"""Counting: the CLIP-EBC blockwise count-bin head and zero-shot point -> segment -> count
(PseCo-style) on CLIP and SAM, and CountCLIP's image-level counting by number prompts."""
from ovperception.models.counting.blockwise_head import BlockwiseCountingHead
from ovperception.models.counting.clip_ebc_backbone import CLIPEBCBackbone
from ovperception.models.counting.convert import CLIP_EBC_CONVERTER
from ovperception.models.counting.count_bins import CountBins
from ovperception.models.counting.countclip import CountCLIP, counting_contrastive_loss
from ovperception.models.counting.mask_scores import boxes_to_masks, pool_in_masks
from ovperception.models.counting.image_count_refiner import ImageLevelCountRefiner
from ovperception.models.counting.number_prompts import NumberPrompts, choose_numbers
from ovperception.models.counting.peaks import find_peaks
from ovperception.models.counting.zero_shot import ZeroShotCountingHead

__all__ = ['BlockwiseCountingHead', 'CLIPEBCBackbone', 'CLIP_EBC_CONVERTER', 'CountBins',
           'CountCLIP', 'ImageLevelCountRefiner', 'NumberPrompts', 'choose_numbers', 'counting_contrastive_loss',
           'ZeroShotCountingHead', 'find_peaks',
           'pool_in_masks', 'boxes_to_masks']
