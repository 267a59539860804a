"""Labels from per-name score maps: synonyms reduced, resized to the original image, argmax."""
from __future__ import annotations

import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from ovperception.models.clip.vocabulary import TextEmbeddings
from ovperception.structures import OVDataSample

IGNORE_INDEX = 255


def label_from_name_scores(sample: OVDataSample, scores: Tensor, text: TextEmbeddings,
                           background_index: int | None, return_logits: bool) -> None:
    """Fill ``sample.pred_sem_seg`` (and ``seg_logits``) from (N, H, W) name scores.

    Synonyms take their maximum, the class scores are bilinearly resized to the sample's
    ``ori_shape`` (``align_corners=False``) and the argmax is the label; pixels won by a
    virtual background class take ``background_index`` (None: 255, ignored).

    Args:
        scores: (N, H, W) scores of the N names at the working resolution.
        return_logits: also store the (K, H0, W0) class scores (float32) in ``seg_logits``.
    """
    classes = text.reduce_synonyms(scores, dim=0)
    out_size = tuple(sample.metainfo.get('ori_shape', classes.shape[-2:]))[:2]
    classes = F.interpolate(classes[None], size=out_size, mode='bilinear',
                            align_corners=False)[0]
    labels = classes.argmax(dim=0)
    labels[labels >= text.num_classes] = IGNORE_INDEX if background_index is None \
        else background_index
    sample.pred_sem_seg = PixelData(data=labels[None])
    if return_logits:
        sample.seg_logits = PixelData(data=classes[:text.num_classes].float())
    sample.set_metainfo(dict(label_names=text.class_names))
