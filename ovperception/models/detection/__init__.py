"""Open-vocabulary detection: the detection head, proposal sources and BIRDet post-processing."""
from ovperception.models.detection.birdet import (background_embeddings, classify_embeddings,
                                                  overlap_ratio, partial_object_suppression)
from ovperception.models.detection.fvit import (FViT, FViTBoxHead, FViTMaskHead, FViTRPNHead,
                                                ViTSimplePyramid)
from ovperception.models.detection.head import OVDetectionHead
from ovperception.models.detection.proposals import (ConnectedComponentProposals,
                                                     LearnedProposals, ProposalInputs, Proposals,
                                                     ProposalSource, SAMProposals)

__all__ = ['FViT', 'FViTBoxHead', 'FViTMaskHead', 'FViTRPNHead', 'ViTSimplePyramid',
           'OVDetectionHead', 'ConnectedComponentProposals', 'LearnedProposals', 'SAMProposals',
           'ProposalSource', 'ProposalInputs', 'Proposals', 'background_embeddings',
           'classify_embeddings', 'overlap_ratio', 'partial_object_suppression']
