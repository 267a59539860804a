"""Vocabulary-free segmentation: an image's class names chosen from a caption database
(CaSED / DenseCaSED), then segmented by a training-free dense method."""
from ovperception.models.vocabulary_free.caption_bank import CaptionBank, CaptionBankError
from ovperception.models.vocabulary_free.cased import CaSEDVocabulary, ChosenName

__all__ = ['CaptionBank', 'CaptionBankError', 'CaSEDVocabulary', 'ChosenName']
