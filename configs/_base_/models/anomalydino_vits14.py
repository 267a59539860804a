# AnomalyDINO (training-free, few-shot): DINOv2 ViT-S/14 (timm vit_small_patch14_dinov2,
# weights lvd142m = the official dinov2_vits14), position embeddings resized as the official
# DINOv2 code (bicubic, +0.1 offset), patch kNN (k=1) on the cosine distance, image score =
# mean of the top 1 % patch distances; references rotated 8 x 45 degrees (the official
# 'agnostic' preprocessing); foreground masking per object as that preset (MVTec AD below).
from ovperception.datasets.anomaly import LoadAnomalyMask, PackAnomalyInputs, ResizeAnomaly
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.engine.few_shot import FewShotMemoryHook
from ovperception.models.anomaly import AnomalyDINOHead, OVAnomalyModel
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners.dino import DINOEncoder

imagenet_mean = (123.675, 116.28, 103.53)
imagenet_std = (58.395, 57.12, 57.375)
# dammsi/AnomalyDINO src/utils.py get_dataset_info('MVTec', 'agnostic'): PCA masking where it
# works for the object (VisA: every object)
mvtec_masking = dict(bottle=False, cable=False, capsule=True, carpet=False, grid=False,
                     hazelnut=True, leather=False, metal_nut=False, pill=True, screw=True,
                     tile=False, toothbrush=True, transistor=False, wood=False, zipper=False)
model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor, mean=imagenet_mean, std=imagenet_std),
    backbone=dict(type=DINOEncoder, arch='vit_small_patch14_dinov2', pretrained='lvd142m',
                  pos_embed_resize='bicubic_offset'),
    head=dict(type=AnomalyDINOHead, masking=mvtec_masking, rotation=True,
              mask_references=False, mask_threshold=10.0, knn=1, top_fraction=0.01,
              input_mean=imagenet_mean, input_std=imagenet_std),
)

# Folder of normal reference images for the demo, annotate and the web app when no
# --few-shot-normal is given (--cfg-options few_shot_references=DIR); tools/test.py draws the
# references from the dataset's training images instead (FewShotMemoryHook).
few_shot_references = None

# The official protocol, applied by the dataset configs: the shorter side resized to 448 px
# (PIL bicubic, as torchvision Resize on PIL images), metrics as post_eval.py (MVTec AD's
# exact AUPRO, maps smoothed with sigma 4), the reference of seed s = image s of the sorted
# normal training images (1-shot).
anomalydino_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, short_edge=448, backend='pillow'),
    dict(type=PackAnomalyInputs),
]
anomalydino_metrics = dict(gaussian_sigma=4.0, aupro_variant='mvtec')
anomalydino_shots = dict(type=FewShotMemoryHook, k=1, seed=0, draw='slice')
