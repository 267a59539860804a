"""Tiny constructor arguments of the anomaly components (merged into tests/tiny.py)."""
from __future__ import annotations

TINY_ANOMALY_BACKBONE = dict(
    type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None, dense_mode='maskclip',
    model_kwargs=dict(
        embed_dim=32,
        vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2)))
TINY_WINCLIP_HEAD = dict(type='WinCLIPHead', template_set='single', window_sizes=(2,),
                         use_patch_scale=True)
TINY_ANOMALYCLIP_HEAD = dict(type='AnomalyCLIPHead', n_ctx=4, deep_depth=2, deep_n_ctx=2,
                             feature_layers=(0, 1), dpam_blocks=1, text_width=32)

TINY = {
    'AnomalyDINOHead': dict(type='AnomalyDINOHead', knn=1),
    'MuScModel': dict(type='MuScModel', backbone=dict(TINY_ANOMALY_BACKBONE, dense_mode='vanilla'),
                      feature_layers=(0, 1), aggregation_degrees=(1, 3), chunk=4),
    'WinCLIPHead': TINY_WINCLIP_HEAD,
    'AnomalyCLIPHead': TINY_ANOMALYCLIP_HEAD,
    'AdaCLIPHead': dict(type='AdaCLIPHead', embed_dim=32, visual_width=64, text_width=32,
                        feature_layers=(0, 1), prompt_length=2, prompt_depth=2, k_clusters=4),
    'OVAnomalyModel': dict(type='OVAnomalyModel', backbone=TINY_ANOMALY_BACKBONE,
                           head=TINY_WINCLIP_HEAD),
}
