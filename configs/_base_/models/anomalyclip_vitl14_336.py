# AnomalyCLIP as released (zqhang/AnomalyCLIP 45ed4dd): frozen OpenAI ViT-L/14@336 at 518 px,
# object-agnostic learnable prompts (12 context tokens, deep prompts in 9 text layers, 4
# tokens each), DPAM's value-value path in the last 19 visual blocks (DPAM_layer=20), maps
# from block 24 only (0-based 23: `--features_list 24` of the released train.sh / test.sh,
# which made the released checkpoints and logged results), image score from the class token
# without ln_post, position embeddings resized bilinearly (24x24 -> 37x37), loss
# 4 * (focal + dice) + image CE. The released prompt checkpoints load with --weights
# (converter 'anomalyclip').
# Option: test.py's argparse default, blocks 6/12/18/24 (ANOMALYCLIP_FOUR_LAYERS), with
#   --cfg-options "model.head.feature_layers=[5,11,17,23]"  (train and test alike; effect
#   measured in docs/fidelity.md: a different map and a ~4x larger loss, not the release).
from ovperception.models.anomaly import OVAnomalyModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.anomaly import AnomalyCLIPHead

model = dict(
    type=OVAnomalyModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-L-14-336', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), pos_embed_resize='bilinear'),
    head=dict(type=AnomalyCLIPHead, n_ctx=12, deep_depth=9, deep_n_ctx=4,
              # = anomaly.ANOMALYCLIP_RELEASED_LAYERS, written out: a dumped config keeps values
              feature_layers=(23,), dpam_blocks=19,
              global_ln_post=False, temperature=0.07, text_width=768, local_loss_weight=4.0,
              focal_smooth=1e-5),
)
