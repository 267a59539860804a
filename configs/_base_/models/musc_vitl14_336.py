# MuSc (training-free, zero-shot on an unlabeled set): OpenAI CLIP ViT-L/14-336 at 518 px
# (position embeddings resized bicubically, as open_clip's resize_pos_embed in the release),
# raw tokens of blocks 6/12/18/24 (0-based 5/11/17/23), aggregation degrees 1/3/5, mutual
# scoring over the smallest 30 % of the other images, RsCIN with k = 1/2/3 (MVTec AD).
from ovperception.datasets.anomaly import LoadAnomalyMask, PackAnomalyInputs, ResizeAnomaly
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.engine.set_test_loop import SetTestLoop
from ovperception.models.anomaly import MuScModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=MuScModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai',
                  dense_mode='vanilla', pos_embed_resize='bicubic'),
    feature_layers=(5, 11, 17, 23),
    aggregation_degrees=(1, 3, 5),
    interval_fraction=0.3,
    rescore_k=(1, 2, 3),
    feature_store=None,  # 'disk' (or a folder): features of large sets in files, not RAM
    chunk=8,
)
# tools/test.py collects each category's whole test set, then scores it (SetTestLoop)
test_cfg = dict(type=SetTestLoop)
# The set the demo, annotate and the web app score single images against (a folder of
# unlabeled images of the object): --cfg-options unlabeled_set=DIR; the demo on a folder
# uses that folder itself.
unlabeled_set = None

# The official protocol, applied by the dataset configs: 518 px (PIL bicubic), metrics as
# utils/metrics.py (no smoothing, cflow-ad's 200-step thresholded AUPRO, pixel AP reported).
musc_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(518, 518), backend='pillow'),
    dict(type=PackAnomalyInputs),
]
musc_metrics = dict(gaussian_sigma=0.0, aupro_variant='thresholded',
                    metrics=('image_AUROC', 'image_AP', 'image_F1max', 'pixel_AUROC',
                             'pixel_AP', 'pixel_F1max', 'AUPRO'))
