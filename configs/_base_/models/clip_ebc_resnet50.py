# CLIP-EBC RN50 as released (Yiming-M/CLIP-EBC): OpenAI CLIP RN50 fine-tuned (CLIP-EBC trains its
# ResNet encoders), layer 4 at stride 1 (features at stride 16, 2048 channels) up-sampled to 8 px
# blocks, a Bottleneck decoder (2048), a learned 1x1 projection to 1024, count-bin prompts, DACE
# loss = block CE (summed) + DMCount (OT + TV + count). Set model.backbone.frozen=True to keep
# the encoder frozen. Released checkpoints load with --weights (converter 'clip_ebc').
from ovperception.models import OVModel
from ovperception.models.counting import BlockwiseCountingHead, CLIPEBCBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=CLIPEBCBackbone, model_name='RN50', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), input_size=None, frozen=False),
    head=dict(type=BlockwiseCountingHead, in_channels=2048, feature_stride=16, block_size=8,
              bins=[[0], [1], [2], [3], [4, 'inf']], representatives='middle',
              prompt_type='word', decoder_block='bottleneck', decoder_channels=[2048],
              embed_dim=1024, count_loss='dmcount', count_loss_weight=1.0,
              density_target='official'),
    template_set=['{}'],
    test_cfg=dict(mode='whole', crop_batch_size=1),  # a ResNet takes any input size
)
