"""Download weights into the local caches ahead of time (run on a machine WITH internet).

Not needed for a first run on such a machine (the models download what they miss on first
use); use it to fill a cache that is then copied to an offline machine.

Examples::

    python tools/download_weights.py ViT-B-16 openai
    python tools/download_weights.py ViT-B-16 laion2b_s34b_b88k --cache-dir /data/clip_cache
    python tools/download_weights.py ViT-B-16 --list
    python tools/download_weights.py --dino vit_base_patch16_224.dino    # DINO / DINOv2 (timm)
    python tools/download_weights.py --sam vit_b      # official SAM release, SHA-256 checked
    python tools/download_weights.py --sam vit_h --verify-full  # re-hash a cached file
    python tools/download_weights.py --sam2 configs/sam2.1/sam2.1_hiera_l.yaml  # SAM 2 release
    python tools/download_weights.py --sam vit_b --release-mirror https://mirror.lan/weights

The printed path can be passed as ``pretrained=PATH`` (``--weights PATH``), or the whole
cache directory copied to an offline machine, where ``pretrained=TAG`` (with the same
``cache_dir``) then finds it without downloading.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

if __package__ in (None, ''):  # running from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ovperception.utils.cli import run_cli  # noqa: E402  (light: no torch)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('model', nargs='?', help="open_clip model name, e.g. 'ViT-B-16'")
    parser.add_argument('tag', nargs='?', help="open_clip pretrained tag, e.g. 'openai'")
    parser.add_argument('--cache-dir', default=None,
                        help='HF hub cache / url cache directory (default: their defaults)')
    parser.add_argument('--list', action='store_true', help='list the tags of MODEL and exit')
    parser.add_argument('--dino', metavar='ARCH.TAG',
                        help="DINO/DINOv2 weights of timm, e.g. 'vit_base_patch8_224.dino', "
                             "'vit_base_patch14_dinov2.lvd142m' (for DINOEncoder)")
    parser.add_argument('--sam', metavar='SIZE', choices=('vit_b', 'vit_l', 'vit_h'),
                        help='official SAM checkpoint (into $TORCH_HOME/hub/checkpoints, or '
                             '--cache-dir); pass it as --sam-checkpoint PATH or '
                             "checkpoint='official'")
    parser.add_argument('--sam2', metavar='CONFIG',
                        help='official SAM 2 / SAM 2.1 checkpoint of a sam2 package config, '
                             "e.g. 'configs/sam2.1/sam2.1_hiera_l.yaml' (into "
                             "$TORCH_HOME/hub/checkpoints, or --cache-dir); pass it as "
                             "checkpoint='official'")
    parser.add_argument('--release-mirror', metavar='URL', default=None,
                        help='fetch release-URL files (SAM, SAM 2, Talk2DINO, URL-only '
                             'open_clip tags) from '
                             'URL/HOST/PATH instead of https://HOST/PATH (default: '
                             '$OVP_RELEASE_MIRROR); hub files follow HF_ENDPOINT')
    parser.add_argument('--verify-full', action='store_true',
                        help='hash cached files even where their verification stamp '
                             '(NAME.verified) says they are unchanged since the last check, '
                             'to catch damage that kept size and mtime (as '
                             'OVP_VERIFY_WEIGHTS=full)')
    args = parser.parse_args(argv)
    if args.sam or args.sam2:
        if args.model or args.list or args.dino or (args.sam and args.sam2):
            parser.error('--sam takes a SIZE, --sam2 a CONFIG, each alone (no MODEL / --dino)')
        if args.sam2:
            from ovperception.utils.sam_release import SAM2_CHECKPOINT_URLS
            if args.sam2 not in SAM2_CHECKPOINT_URLS:
                parser.error(f'--sam2 {args.sam2!r} has no official checkpoint; configs: '
                             f'{", ".join(sorted(SAM2_CHECKPOINT_URLS))}')
        return args
    if args.dino:
        if args.model or args.list or args.dino.count('.') != 1:
            parser.error("--dino takes ARCH.TAG (e.g. vit_base_patch16_224.dino) and no MODEL")
        return args
    if not args.model:
        parser.error('a MODEL is required unless --dino is given')
    if not args.list and not args.tag:
        parser.error('a TAG is required unless --list is given')
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = parse_args(argv)
    from mmengine.logging import print_log

    from ovperception.utils.download import set_full_verification, set_release_mirror
    if args.verify_full:
        set_full_verification()
    if args.release_mirror:
        set_release_mirror(args.release_mirror)
    if args.sam:
        from ovperception.models.refiners.sam import official_sam_checkpoint
        print_log(os.path.abspath(official_sam_checkpoint(args.sam, args.cache_dir)))
        return 0
    if args.sam2:
        from ovperception.models.refiners.sam2_masks import official_sam2_checkpoint
        print_log(os.path.abspath(official_sam2_checkpoint(args.sam2, args.cache_dir)))
        return 0
    if args.dino:
        from ovperception.models.refiners.dino import download_dino_weights
        print_log(os.path.abspath(download_dino_weights(*args.dino.split('.'),
                                                        cache_dir=args.cache_dir)))
        return 0
    from ovperception.models.clip.open_clip import (download_pretrained_weights,
                                                    list_pretrained_tags, pretrained_cfg)
    if args.list:
        tags = list_pretrained_tags(args.model)
        if not tags:
            print_log(f'no open_clip pretrained tags for {args.model!r}')
            return 1
        for tag in tags:
            print_log(tag)
        return 0
    path = download_pretrained_weights(args.model, args.tag, cache_dir=args.cache_dir)
    if pretrained_cfg(args.model, args.tag).get('quick_gelu'):
        print_log('note: these weights need QuickGELU; when passing the file itself use '
                  "model_kwargs=dict(quick_gelu=True) (or a '-quickgelu' model name)",
                  logger='current', level=logging.WARNING)
    print_log(os.path.abspath(path))
    return 0


if __name__ == '__main__':
    run_cli(main)
