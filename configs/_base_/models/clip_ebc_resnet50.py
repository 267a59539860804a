# CLIP-EBC with an OpenAI CLIP RN50: stride-32 attention-pool value features up-sampled to 8 px
# blocks. CLIP-EBC fine-tunes the ResNet encoder; here it is frozen by default (set
# model.backbone.frozen=False to fine-tune it, with a lower backbone learning rate).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.counting import BlockwiseCountingHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='RN50', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), dense_mode='vanilla'),
    head=dict(type=BlockwiseCountingHead, in_channels=1024, feature_stride=32, block_size=8,
              bins=[[0], [1], [2], [3], [4, 'inf']], representatives='middle',
              prompt_type='word', hidden_channels=256, count_loss='l1', count_loss_weight=1.0),
    template_set=['{}'],
    test_cfg=dict(mode='whole', crop_batch_size=1),  # a ResNet takes any input size
)
