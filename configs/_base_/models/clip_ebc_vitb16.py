# CLIP-EBC with a frozen OpenAI CLIP ViT-B/16: blockwise count-bin classification (8 px blocks).
# Trainable: the residual 1x1 adapter and the logit scale of the head (CLIP-EBC itself tunes deep
# visual prompts, VPT, 32 tokens per layer: not implemented here, see docs/counting.md).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.counting import BlockwiseCountingHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), dense_mode='vanilla'),
    head=dict(type=BlockwiseCountingHead, in_channels=512, feature_stride=16, block_size=8,
              bins=[[0], [1], [2], [3], [4, 'inf']], representatives='middle',
              prompt_type='word', hidden_channels=256, count_loss='l1', count_loss_weight=1.0),
    template_set=['{}'],  # the head's bin sentences are encoded verbatim
    # CLIP-EBC's optional sliding-window evaluation: 224 windows, stride 224
    test_cfg=dict(mode='slide', crop_size=224, stride=224, crop_batch_size=16),
)
