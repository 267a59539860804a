"""Segment an image (or every image of a folder) with any vocabulary.

    python demo/image_demo.py IMAGE_OR_FOLDER --vocab "cat, dog; puppy, grass" --out DIR \
        [--config CONFIG] [--weights PATH] [--device auto] [--fp16 | --bf16] [--offline]
        [--background-words "sky, wall"]
        [--refiner {none,pamr,sam} [--sam-checkpoint sam_vit_b_01ec64.pth --sam-model vit_b]]

For every image, DIR receives (written atomically; inputs are never overwritten):
    <name>_overlay.png  the image with class colours, boundaries and a legend
    <name>_labels.png   label map: value = class index + 1, 0 = unlabelled
    <name>.json         per-class COCO RLE masks, areas and boxes
With a detection config (configs/detection/*, --pred-score-thr 0.3), DIR receives instead:
    <name>_det_overlay.png  boxes with "name score" tags and instance masks
    <name>_detections.json  COCO dataset (images, categories, annotations with RLE masks)
Counting configs (configs/counting, configs/tiny/count_*) write instead:
    <name>_count.png    density map (or detected points / masks) with the count per class
    <name>_count.json   counts per class, the density grid and the detections
    counts.csv          one row per image: its count per class and the total
    --exemplars "x1,y1,x2,y2; x1,y1,x2,y2" (pixels of the input image; zero-shot counting
    configs whose head has SAM, e.g. configs/tiny/count_tiny_zeroshot.py) gives example
    boxes of the object, like FSC-147's three exemplars; other configs reject it.
Unreadable images are reported and skipped; the exit status is 1 if any failed.
<name> mirrors the input's path below the input folder (sub/a.png -> DIR/sub/a_...); inputs
sharing a name without extension keep it (a.jpg -> a.jpg_overlay.png, a.png -> a.png_...).
Earlier outputs in DIR are recognised (tagged PNGs) and not read as inputs, so --out may be
the input folder; an image whose outputs would overwrite another input is skipped with a note.
A closed-vocabulary config (a trained ExCEL: model.seg_head + head_classes) segments the
classes it was trained on: --vocab may be left out (all of them) and may name only them.
Vocabulary, --cfg-options keys, --out and image headers are checked before the model is built;
errors print one line (exit 1), Ctrl-C exits 130. See docs/robustness.md.

Anomaly configs (configs/anomaly, configs/tiny/anomaly_*): --vocab names the object
("screw"); DIR receives <name>_anomaly.png (heatmap) and <name>_anomaly.json (score,
threshold, verdict). --anomaly-threshold T sets the verdict threshold; --calibrate-normal
NORMAL_DIR sets it to the --calibrate-quantile (default 1.0 = max) of the scores of the
normal images in NORMAL_DIR; --few-shot-normal REF_DIR adds WinCLIP+'s memory of k normal
reference images (calibrate on other normal images than the references); --anomaly-sigma S
smooths the map (default: the config's metric sigma, so the heatmap is the evaluated map).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

# Only light modules here: --help and argument errors answer before torch and the models load.
from ovperception.utils.cli import LazyDictAction, lazy_attributes, run_cli
from ovperception.utils.device import DEVICE_CHOICES_HELP, resolve_device
from ovperception.utils.sam_release import SAM_CHECKPOINT_URLS

#: Heavy names this module offers as attributes (tests, notebooks), imported on first use.
__getattr__ = lazy_attributes(globals(), {
    'applicable_options': 'ovperception.apis.options',
    'init_model': 'ovperception.apis', 'OVPredictor': 'ovperception.apis'})

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'configs', 'segmentation', 'sclip_vitb16_ade20k_336.py')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='an image file or a folder of images')
    parser.add_argument('--vocab', default=None,
                        help='classes separated by ",", synonyms by ";" ("cat, dog; puppy"); '
                        'leave it out with a vocabulary-free config (configs/segmentation/'
                        'dense_cased_*, configs/tiny/seg_tiny_cased.py): the model chooses '
                        'the names and prints them with their scores; or with a closed-'
                        'vocabulary config (a trained ExCEL: model.seg_head + head_classes): '
                        'the trained classes are used, and --vocab must be among them')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='model config')
    parser.add_argument('--weights', help='CLIP weights file (open_clip state dict) or a '
                        'trained ovperception checkpoint; needed when the config names a '
                        'pretrained tag that is not in the local cache')
    parser.add_argument('--device', default='auto', help=DEVICE_CHOICES_HELP)
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--fp16', action='store_const', const='fp16', dest='amp',
                           help='run the image encoder under float16 autocast')
    precision.add_argument('--bf16', action='store_const', const='bf16', dest='amp',
                           help='run the image encoder under bfloat16 autocast (CPU and GPU)')
    parser.add_argument('--offline', action='store_true',
                        help='never download: missing weights fail at once with the fix')
    parser.add_argument('--release-mirror', metavar='URL', default=None,
                        help='fetch release-URL weights (SAM, URL-only open_clip tags) from '
                        'URL/HOST/PATH (default: $OVP_RELEASE_MIRROR); hub weights follow '
                        'HF_ENDPOINT')
    parser.add_argument('--background-words', default='',
                        help='words that mean "none of the classes" ("sky, wall")')
    parser.add_argument('--threshold', type=float, default=None,
                        help='pixels whose best class probability is below this are unlabelled')
    parser.add_argument('--template-set', default=None, help="'single', 'imagenet80', 'vild14'")
    add_refiner_args(parser)
    parser.add_argument('--pred-score-thr', type=float, default=None,
                        help='detection configs: drop detections scoring below this '
                        '(default: the config\'s score_threshold)')
    parser.add_argument('--cfg-options', nargs='+', action=LazyDictAction,
                        help='override config keys')
    parser.add_argument('--exemplars', default=None, metavar='"x1,y1,x2,y2; ..."',
                        help='counting (ZeroShotCountingHead with SAM): example boxes of the '
                        'counted object in input-image pixels, separated by ";"')
    # ---- anomaly detection (configs/anomaly, configs/tiny/anomaly_*) ----
    parser.add_argument('--anomaly-threshold', type=float, default=None,
                        help='image scores >= this are "anomalous" in the JSON and overlay')
    parser.add_argument('--calibrate-normal', default=None, metavar='NORMAL_DIR',
                        help='folder of normal images: threshold = --calibrate-quantile of '
                        'their scores (overrides --anomaly-threshold)')
    parser.add_argument('--calibrate-quantile', type=float, default=1.0,
                        help='quantile of the normal scores used as threshold (1.0 = max)')
    parser.add_argument('--few-shot-normal', default=None, metavar='REF_DIR',
                        help='WinCLIP+ few-shot: k normal reference images (WinCLIP heads)')
    parser.add_argument('--anomaly-sigma', type=float, default=None,
                        help='Gaussian sigma (pixels at the working size) smoothing the map; '
                        'default: the config\'s metric sigma (what tools/test.py scores)')
    return parser.parse_args(argv)


# --- refiners (--refiner NAME): one entry per choice, mapping the CLI to config overrides ---
def _sam_config(args: argparse.Namespace) -> dict:
    if not args.sam_checkpoint:
        url = SAM_CHECKPOINT_URLS.get(args.sam_model, 'the segment-anything release')
        raise SystemExit(f'--refiner sam needs --sam-checkpoint: `official` (the official '
                         f'{args.sam_model} release, cached or downloaded once) or a local '
                         f'file (download {url})')
    return dict(type='ovperception.SAMWrapper', model_type=args.sam_model,
                checkpoint=args.sam_checkpoint)


REFINERS: dict[str, Callable[[argparse.Namespace], dict]] = {
    'none': lambda args: {},
    # PAMR on the per-name cosine maps before the softmax (NACLIP: 10 iterations, dilations 8, 16).
    'pamr': lambda args: {'model.head.score_refiner': dict(
        type='ovperception.PAMRRefiner', num_iter=10, dilations=(8, 16))},
    # SAM prompted by every coarse class region; class probabilities rank overlapping masks.
    'sam': lambda args: {'model.head.return_logits': True, 'model.refiners': [dict(
        type='ovperception.SAMRefiner', sam=_sam_config(args))]},
}


def add_refiner_args(parser: argparse.ArgumentParser) -> None:
    """``--refiner``, its ``--pamr`` alias and the SAM weights options."""
    parser.add_argument('--refiner', choices=sorted(REFINERS), default=None,
                        help='refine the prediction: pamr (PAMR on the class scores), sam '
                        '(Segment Anything prompted by each class region; needs '
                        '--sam-checkpoint); default none')
    parser.add_argument('--pamr', action='store_true', help='alias of --refiner pamr')
    parser.add_argument('--sam-checkpoint', default=None, metavar='official|PATH',
                        help='SAM weights: "official" (the official release of --sam-model '
                        'from $TORCH_HOME/hub/checkpoints, downloaded and SHA-256 checked on '
                        'first use) or a local file (e.g. sam_vit_b_01ec64.pth); also replaces '
                        'the checkpoint of a config whose head uses SAM (Trident)')
    parser.add_argument('--sam-model', default='vit_b', choices=sorted(SAM_CHECKPOINT_URLS)
                        + ['tiny'], help='SAM size matching --sam-checkpoint')


def refiner_options(args: argparse.Namespace) -> dict:
    """Config overrides of the chosen refiner (and of a SAM the config already has)."""
    from mmengine.config import Config
    choice = getattr(args, 'refiner', None)
    if getattr(args, 'pamr', False):
        if choice not in (None, 'pamr'):
            raise SystemExit(f'--pamr contradicts --refiner {choice}')
        choice = 'pamr'
    options = REFINERS[choice or 'none'](args)
    checkpoint = getattr(args, 'sam_checkpoint', None)
    if checkpoint and 'sam' in (Config.fromfile(args.config).model.get('head') or {}):
        options.update({'model.head.sam.checkpoint': checkpoint,
                        'model.head.sam.model_type': args.sam_model})
    return options


# --- counting exemplars (--exemplars): boxes -> metainfo['exemplar_bboxes'] like FSC-147 ---
def parse_exemplars(text: str) -> np.ndarray:
    """(E, 4) float32 xyxy boxes from ``"x1,y1,x2,y2; x1,y1,x2,y2"``; SystemExit if malformed."""
    import numpy as np
    boxes = []
    for entry in (part.strip() for part in text.split(';')):
        if not entry:
            continue
        try:
            box = [float(value) for value in entry.split(',')]
        except ValueError:
            raise SystemExit(f'--exemplars: "{entry}" is not four numbers x1,y1,x2,y2')
        if len(box) != 4 or not np.isfinite(box).all():
            raise SystemExit(f'--exemplars: "{entry}" is not four numbers x1,y1,x2,y2')
        if box[2] <= box[0] or box[3] <= box[1]:
            raise SystemExit(f'--exemplars: "{entry}" needs x2 > x1 and y2 > y1')
        boxes.append(box)
    if not boxes:
        raise SystemExit('--exemplars: no box given ("x1,y1,x2,y2; x1,y1,x2,y2")')
    return np.asarray(boxes, np.float32)


def check_exemplar_config(config: str) -> None:
    """SystemExit unless ``config``'s head takes exemplar boxes (a counting head with SAM)."""
    from mmengine.config import Config
    import inspect

    from ovperception.registry import MODELS
    head_cfg = Config.fromfile(config).model.get('head') or {}
    head_type = head_cfg.get('type')
    head = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    if head is None or 'exemplar_weight' not in inspect.signature(head).parameters:
        raise SystemExit(f'--exemplars applies only to counting configs whose head takes '
                         f'exemplar boxes (ZeroShotCountingHead); {config} does not')
    if head_cfg.get('sam') is None:
        raise SystemExit(f'--exemplars needs the counting head\'s SAM; {config} has none')


def exemplar_metainfo(boxes: np.ndarray, image_metainfo: dict) -> dict:
    """``exemplar_bboxes`` scaled from input-image to working-image pixels (as the counting
    transforms leave FSC-147's boxes); SystemExit if a box leaves the image."""
    import numpy as np
    height, width = (int(v) for v in image_metainfo['ori_shape'][:2])
    outside = (boxes[:, :2] < 0).any(1) | (boxes[:, 2] > width) | (boxes[:, 3] > height)
    if outside.any():
        raise SystemExit(f'--exemplars: box {boxes[outside][0].tolist()} lies outside the '
                         f'{width}x{height} image')
    work_h, work_w = (int(v) for v in image_metainfo.get('img_shape', (height, width))[:2])
    scale = np.array([work_w / width, work_h / height] * 2, np.float32)
    return dict(exemplar_bboxes=boxes * scale)


def build_predictor(args: argparse.Namespace) -> 'OVPredictor':
    from ovperception.apis import (OVPredictor, build_anomaly_predictor, find_images, init_model,
                                   is_anomaly_config)
    from ovperception.apis.options import (applicable_options, detection_options,
                                           is_detection_config, segmentation_options)
    from ovperception.models.clip.vocabulary import parse_vocabulary_string
    if args.amp and is_anomaly_config(args.config):
        raise SystemExit(f'--{args.amp} applies to OVModel configs, not anomaly ones')
    if is_anomaly_config(args.config):  # anomaly: no segmentation options apply
        normal = find_images(args.calibrate_normal) if args.calibrate_normal else ()
        return build_anomaly_predictor(args.config, args.weights, args.device,
                                       parse_vocabulary_string(args.vocab),
                                       args.anomaly_threshold, normal, args.calibrate_quantile,
                                       dict(args.cfg_options or {}),
                                       find_images(args.few_shot_normal)
                                       if args.few_shot_normal else (), args.anomaly_sigma,
                                       unlabeled_paths=getattr(args, 'input_images', ()))
    options = dict(args.cfg_options or {})
    if args.amp:
        options['model.test_cfg.amp_dtype'] = args.amp
    background = [w.strip() for w in args.background_words.split(',') if w.strip()]
    if is_detection_config(args.config):
        threshold = args.pred_score_thr if args.pred_score_thr is not None else args.threshold
        options.update(detection_options(background, threshold))
        model = init_model(args.config, args.weights, args.device, cfg_options=options)
        return OVPredictor(model)
    options.update(segmentation_options(background, args.threshold, args.template_set))
    options.update(refiner_options(args))
    # Segmentation options apply only to models/heads that take them (not counting, FC-CLIP).
    options = applicable_options(args.config, options, dict(args.cfg_options or {}))
    model = init_model(args.config, args.weights, args.device, cfg_options=options)
    return OVPredictor(model)


def find_inputs(path: str) -> list[str]:
    """The images of ``path`` minus this tool's own earlier outputs (tagged PNGs), so that
    ``--out`` may be the input folder; a note says how many were left out."""
    from ovperception.apis import find_images
    from ovperception.utils.atomic import is_tagged_output
    found = find_images(path)
    inputs = [p for p in found if not is_tagged_output(p)]
    if len(inputs) < len(found):
        print(f'note: {len(found) - len(inputs)} files in {path} are outputs of an earlier run '
              '(tagged PNGs); they are not read as inputs', file=sys.stderr)
    if not inputs:
        raise FileNotFoundError(f'{path!r} holds only outputs of earlier runs, no input image')
    return inputs


def readable_images(paths: list[str]) -> tuple[list[str], int]:
    """Paths whose header reads as an image (checked before the model is built), and how
    many were reported and skipped."""
    from ovperception.utils.image_io import ImageReadError, check_image
    readable = []
    for path in paths:
        try:
            check_image(path)
            readable.append(path)
        except ImageReadError as error:
            print(f'skipped {path}: {error}', file=sys.stderr)
    return readable, len(paths) - len(readable)


def check_vocabulary_free_config(config: str, cfg_options: dict | None = None) -> None:
    """SystemExit unless ``config``'s model (with ``cfg_options``) chooses its own vocabulary;
    CaptionBankError if its caption database does not exist."""
    from mmengine.config import Config

    from ovperception.models.vocabulary_free.caption_bank import configured_selector
    if not configured_selector(Config.fromfile(config), cfg_options):
        raise SystemExit(f'--vocab is required: {config} has no vocabulary selector (use a '
                         'vocabulary-free config such as configs/tiny/seg_tiny_cased.py or '
                         'configs/segmentation/dense_cased_sclip_vitb16_ade20k_336.py)')


def check_fixed_vocabulary(args: argparse.Namespace) -> list[str] | None:
    """The trained classes of a closed-vocabulary config (``model.seg_head`` +
    ``head_classes``, with ``--cfg-options``), read without torch or the models; a ``--vocab``
    class outside them is a one-line ValueError here, before any model is built. None for
    an open-vocabulary config."""
    from ovperception.utils.closed_vocabulary import check_command_vocabulary
    return check_command_vocabulary(args.config, args.cfg_options, args.vocab)


def format_chosen_names(chosen: list[dict]) -> str:
    """``"cat 0.81 (62%), grass 0.40 (38%)"``: name, score and share of the image."""
    return ', '.join(f'{c["name"]} {c["score"]:.2f} ({100 * c["coverage"]:.0f}%)'
                     for c in chosen) or '(none)'


def check_inputs(args: argparse.Namespace) -> tuple[list[str], list[str], dict[str, str]]:
    """Everything that can fail without the model, before building it (seconds, not minutes):
    vocabulary, ``--cfg-options`` keys, the output folder, the images' headers.

    Returns: readable image paths, all input paths (never overwritten, readable or not),
    output stems.
    """
    from mmengine.config import Config
    
    from ovperception.engine.config_keys import check_option_keys
    from ovperception.engine.runner_cli import prepare_output_dir
    from ovperception.models.clip.vocabulary import Vocabulary, parse_vocabulary_string
    from ovperception.writers import output_stems
    if args.vocab is not None:
        Vocabulary.parse(parse_vocabulary_string(args.vocab))
    elif getattr(args, 'fixed_vocabulary', None) is None:  # else: the trained classes
        check_vocabulary_free_config(args.config, args.cfg_options)
    if args.cfg_options:
        check_option_keys(Config.fromfile(args.config), args.cfg_options)
    prepare_output_dir(args.out)
    paths = find_inputs(args.input)
    readable, _ = readable_images(paths)
    return readable, paths, output_stems(paths, args.input)


def main(argv: list[str] | None = None) -> int:
    import time

    args = parse_args(argv)
    args.fixed_vocabulary = check_fixed_vocabulary(args)  # before torch and the models
    from tqdm import tqdm

    from ovperception.models.clip.vocabulary import parse_vocabulary_string
    from ovperception.utils.atomic import OverwriteInputError
    from ovperception.utils.download import set_offline, set_release_mirror
    from ovperception.utils.image_io import ImageReadError
    from ovperception.writers import write_predictions
    from ovperception.writers.counting import COUNT_TABLE_NAME, CountTable
    args.device = resolve_device(args.device)
    if args.offline:
        set_offline()
    if args.release_mirror:
        set_release_mirror(args.release_mirror)
    vocabulary = parse_vocabulary_string(args.vocab) if args.vocab is not None else \
        args.fixed_vocabulary
    if args.vocab is None and args.fixed_vocabulary is not None:
        print(f'no --vocab: segmenting the {len(vocabulary)} classes '
              f'{os.path.basename(args.config)} was trained on: {", ".join(vocabulary)}',
              file=sys.stderr)
    exemplars = None
    if args.exemplars is not None:
        exemplars = parse_exemplars(args.exemplars)
        check_exemplar_config(args.config)
    paths, inputs, stems = check_inputs(args)
    total, failures = len(inputs), len(inputs) - len(paths)
    if not paths:
        print(f'none of the {total} images could be read', file=sys.stderr)
        return 1
    started = time.monotonic()
    print(f'building the model of {os.path.basename(args.config)}'
          f'{" and loading " + args.weights if args.weights else ""} ...', file=sys.stderr,
          flush=True)
    args.input_images = paths if len(paths) > 1 else ()  # MuSc scores a folder as one set
    predictor = build_predictor(args)
    if vocabulary is not None:  # validates the vocabulary before any image
        predictor.model.encode_vocabulary(vocabulary)
    print(f'model ready in {time.monotonic() - started:.1f} s; {len(paths)} image'
          f'{"s" if len(paths) != 1 else ""}', file=sys.stderr, flush=True)
    skipped, count_table = 0, CountTable()
    for path in tqdm(paths, desc='images', disable=len(paths) == 1):
        try:
            predictor.set_image(path)
            prediction = (predictor.predict(vocabulary) if exemplars is None else
                          predictor.predict(vocabulary, exemplar_metainfo(
                              exemplars, predictor.image_metainfo)))
            predictor.release_features()  # the writers need the image, not the windows
            written = write_predictions(path, predictor.image, prediction, args.out, inputs,
                                        stem=stems[path])
            if 'chosen_names' in prediction.metainfo:
                print(f'{path}: chosen names: '
                      f'{format_chosen_names(prediction.metainfo["chosen_names"])}')
            print(f'{path} -> {", ".join(written)}')
            count_table.add(path, prediction)
        except ImageReadError as error:
            failures += 1
            print(f'skipped {path}: {error}', file=sys.stderr)
        except OverwriteInputError as error:
            skipped += 1
            print(f'note: skipped {path}: {error}', file=sys.stderr)
    if count_table.rows:  # counting configs: every image's counts in one CSV
        count_table.write(os.path.join(args.out, COUNT_TABLE_NAME), inputs)
        print(f'counts -> {os.path.join(args.out, COUNT_TABLE_NAME)}')
    if failures:
        print(f'{failures} of {total} images could not be read', file=sys.stderr)
    if skipped:
        print(f'{skipped} of {total} images were skipped: their outputs would overwrite '
              'inputs (use another --out)', file=sys.stderr)
    return 1 if failures or skipped else 0


if __name__ == '__main__':
    run_cli(main)
