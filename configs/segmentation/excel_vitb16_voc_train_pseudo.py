# ExCEL training-free pseudo-masks on PASCAL VOC 2012 train (1,464 images), image-level labels
# from the ground truth, scored by mIoU against the masks -- zwyang6/ExCEL infer_lam.sh
# (--infer_set train --training_free true) at commit 2cd7f51: CLIP ViT-B/16 (OpenAI),
# 320 x 320 input, dual path on the last 5 blocks, prompt "a clean origami {}.", its 25
# background words, attribute bank of 112 k-means clusters of the GPT-4 descriptions, box
# threshold 0.79 over 6 attention layers, PAR 20 iterations at dilations 1..24.
# The descriptions are the repository's data (no licence: not shipped). Put its
# attributes_text/descriptors_pascal_voc_gpt4.0_cluster_a_photo_of4.json at the path below.
# Published number: not recorded -- the README reports only the trained segmentation (val 78.4,
# test 78.5) and the paper's pseudo-mask table could not be read here.
from mmengine.config import read_base

from ovperception.datasets.transforms import LoadImageFromFile, LoadSegAnnotations, PackOVInputs
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import IMAGENET_MEAN, IMAGENET_STD, OVDataPreprocessor
from ovperception.models.segmentation import ExCELModel

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc21 import *

model = dict(
    type=ExCELModel,  # ImageNet statistics, as the official normalize_img (not CLIP's)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), pos_embed_resize='bilinear'),
    descriptions_file='data/excel/descriptors_pascal_voc_gpt4.0_cluster_a_photo_of4.json',
    num_attribute_clusters=112, input_size=320, tags_from_ground_truth=True)
test_pipeline = [dict(type=LoadImageFromFile), dict(type=LoadSegAnnotations),
                 dict(type=PackOVInputs)]  # full-size images and labels, as the official eval
test_dataloader.dataset.update(ann_file='ImageSets/Segmentation/train.txt',
                               classnames_file='excel/voc21', pipeline=test_pipeline)
published_metrics_unverified = (
    'ExCEL training-free pseudo-mask mIoU on VOC train: the README gives only the trained '
    'model (val 78.4, test 78.5); the paper table could not be read here')
