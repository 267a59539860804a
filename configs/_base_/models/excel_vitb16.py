# ExCEL on CLIP ViT-B/16 (OpenAI), zwyang6/ExCEL @ 2cd7f51: ImageNet normalisation (the official
# normalize_img, not CLIP's statistics), 320 x 320 network input, position embedding resized
# bilinearly, prompt "a clean origami {}.", 25 background words, attribute bank of 112 k-means
# clusters of the GPT-4 descriptions (not shipped: the repository has no licence; put its
# attributes_text/descriptors_pascal_voc_gpt4.0_cluster_a_photo_of4.json at the path below).
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import ExCELModel

# = data_preprocessor.IMAGENET_MEAN / IMAGENET_STD, written out: a dumped config keeps values,
# not imported constants
imagenet_mean = (123.675, 116.28, 103.53)
imagenet_std = (58.395, 57.12, 57.375)
model = dict(
    type=ExCELModel,
    data_preprocessor=dict(type=OVDataPreprocessor, mean=imagenet_mean, std=imagenet_std),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), pos_embed_resize='bilinear',
                  grid_remainder='drop'),  # the official patch conv drops a remainder
    descriptions_file='data/excel/descriptors_pascal_voc_gpt4.0_cluster_a_photo_of4.json',
    num_attribute_clusters=112, input_size=320)
# The trained parts (issue #28): the seg head (SegFormer-style fusion of the 12 layers' tokens,
# 3-layer transformer decoder) on the 21 VOC classes, LVC from iteration 14000, the seg head's
# affinity from 24000 (scripts/train_voc.py), trained segmenter inference (infer_seg_voc.py).
excel_seg_head = dict(type='ExCELSegHead', in_channels=768, num_layers=12, embed_dim=256,
                      num_classes=21, decoder_layers=3, decoder_heads=8, dropout=0.1)
excel_train_cfg = dict(lvc_start_iter=14000, seg_affinity_start_iter=24000, affinity_radius=8,
                       affinity_weight=0.1, box_threshold=0.79, ignore_index=255)
