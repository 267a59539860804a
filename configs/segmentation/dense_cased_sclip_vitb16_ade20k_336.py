# Vocabulary-free semantic segmentation: DenseCaSED chooses each image's names from a text
# database (region level: [2, 4, 8] grids with half-cell shifts, 128 px crops, 16 x 16 cell
# map, 10 entries per cell, alpha 0.7 -- altndrr/vicss configs/model/dense_cased.yaml @ 5fb469d),
# then SCLIP segments the image with them (CLIP ViT-B/16 OpenAI, training-free).
#   python demo/image_demo.py IMAGE --out DIR --config THIS   (no --vocab: names are printed)
# Database: the shipped class-name bank (entries are names). A caption database as the paper's:
#   --cfg-options model.vocabulary_selector.database=CAPTIONS.txt \
#                 model.vocabulary_selector.entries_are_names=False
# (NLTK's tagger data then needed: python -m nltk.downloader punkt_tab averaged_perceptron_tagger_eng)
# No published number: the paper scores DenseCaSED with semantic-similarity IoUs of its own
# (vicss metrics/segmentation.py) on ViT-L/14 and the PMD caption database, which this config
# neither uses nor evaluates. tools/test.py on this config scores the dataset's own vocabulary.
from mmengine.config import read_base

from ovperception.models.vocabulary_free import CaSEDVocabulary

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.sclip_vitb16 import *

model.head.update(logit_scale=40.0)
model.update(vocabulary_selector=dict(
    type=CaSEDVocabulary, database='default', entries_are_names=True, num_captions=10,
    alpha=0.7, region_grid_sizes=(2, 4, 8), region_stride_grid=True, region_crop_size=128,
    pixel_map_size=16, max_names=10, min_coverage=0.01))
test_dataloader.dataset.update(classnames_file='sclip/ade20k')
published_metrics_unverified = (
    'no comparable number: the DenseCaSED paper reports semantic-similarity IoUs (vicss '
    'SemanticJaccardIndex) with ViT-L/14 and the PMD database, not mIoU with a given vocabulary')
