"""The official Segment Anything releases (SAM, SAM 2 / 2.1): URLs and SHA-256 where known
(no torch needed, so command lines can list and check them before importing the models)."""
from __future__ import annotations

SAM_CHECKPOINT_URLS = {
    'vit_b': 'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth',
    'vit_l': 'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth',
    'vit_h': 'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth',
}
#: SHA-256 of the official files. Meta publishes none next to the URLs; these values are the
#: ones recorded identically by many independent public projects that verify these downloads.
SAM_CHECKPOINT_SHA256 = {
    'vit_b': 'ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912',
    'vit_l': '3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622',
    'vit_h': 'a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e',
}
#: ``checkpoint=`` value meaning "the official release of this size" (cached or downloaded).
OFFICIAL_CHECKPOINT = 'official'

#: Official SAM 2 / SAM 2.1 releases: config file in the ``sam2`` package -> checkpoint URL.
#: Meta publishes no checksums of these files and none could be verified here, so the first
#: download's SHA-256 and size are recorded and later uses checked against them.
SAM2_CHECKPOINT_URLS = {
    'configs/sam2/sam2_hiera_t.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_tiny.pt',
    'configs/sam2/sam2_hiera_s.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_small.pt',
    'configs/sam2/sam2_hiera_b+.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_base_plus.pt',
    'configs/sam2/sam2_hiera_l.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_large.pt',
    'configs/sam2.1/sam2.1_hiera_t.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt',
    'configs/sam2.1/sam2.1_hiera_s.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_small.pt',
    'configs/sam2.1/sam2.1_hiera_b+.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_base_plus.pt',
    'configs/sam2.1/sam2.1_hiera_l.yaml':
        'https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt',
}
