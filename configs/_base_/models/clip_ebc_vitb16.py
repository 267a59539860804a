# CLIP-EBC ViT-B/16 as released (Yiming-M/CLIP-EBC): frozen OpenAI CLIP ViT-B/16 with deep visual
# prompt tuning (32 tokens per block), ln_post patch tokens (768) up-sampled from stride 16 to 8,
# a BasicBlock decoder (768), a learned 1x1 projection to 512, count-bin prompts ("There are more
# than four people."), DACE loss = block CE (summed) + DMCount (OT + TV + count).
# Block targets: CLIP-EBC's one-pixel density map (density_target='official'; 'points' counts
# every annotation, see docs/counting.md). Released checkpoints load with --weights
# (converter 'clip_ebc').
from ovperception.models import OVModel
from ovperception.models.counting import BlockwiseCountingHead, CLIPEBCBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=CLIPEBCBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True), input_size=224, num_vpt=32,
                  deep_vpt=True, vpt_drop=0.0, frozen=True),
    head=dict(type=BlockwiseCountingHead, in_channels=768, feature_stride=16, block_size=8,
              bins=[[0], [1], [2], [3], [4, 'inf']], representatives='middle',
              prompt_type='word', decoder_block='basic', decoder_channels=[768], embed_dim=512,
              count_loss='dmcount', count_loss_weight=1.0,
              density_target='official'),
    template_set=['{}'],  # the head's bin sentences are encoded verbatim
    # CLIP-EBC's sliding-window evaluation of its ViT: 224 windows, stride 224
    test_cfg=dict(mode='slide', crop_size=224, stride=224, crop_batch_size=16),
)
