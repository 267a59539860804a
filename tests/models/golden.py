"""Helpers of the golden-output parity tests (fixtures made by the official code)."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ovperception.structures import OVDataSample

LABEL_AGREEMENT = 0.999

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures',
                      'golden')


def load_golden(method: str, name: str) -> dict[str, np.ndarray]:
    """The arrays of ``tests/fixtures/golden/<method>/<name>``."""
    with np.load(os.path.join(GOLDEN, method, name)) as data:
        return {key: data[key] for key in data.files}


def load_prefixed(module: nn.Module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    """Load the ``prefix``-ed arrays (official names) into ``module`` strictly, as float32."""
    state = {key[len(prefix):]: torch.from_numpy(value).float()
             for key, value in arrays.items() if key.startswith(prefix)}
    module.load_state_dict(state, strict=True)


def inject_text(model: nn.Module, names: Sequence[str], embeddings: np.ndarray) -> None:
    """Put the official code's per-name text embeddings (N, C) into ``model``'s text cache."""
    cache = model.text_cache
    for name, embedding in zip(names, torch.from_numpy(embeddings).float()):
        cache._memory[name] = embedding


def predict_image(model: nn.Module, image: np.ndarray, classnames: Sequence[str]) -> OVDataSample:
    """Run ``model.predict`` on one (3, H, W) uint8 RGB image at its own size."""
    sample = OVDataSample(metainfo=dict(classnames=list(classnames)))
    data = model.data_preprocessor(dict(inputs=[torch.from_numpy(image)],
                                        data_samples=[sample]))
    with torch.no_grad():
        return model.predict(data['inputs'], data['data_samples'])[0]


def label_agreement(ours: Tensor, theirs: np.ndarray) -> float:
    """Fraction of pixels with equal labels."""
    return float((ours.cpu().numpy() == theirs).mean())


def official_text(model: nn.Module, features: np.ndarray, classnames: Sequence[str]):
    """``TextEmbeddings`` of ``classnames`` holding the official per-name features (N, C)."""
    from ovperception.models.clip.vocabulary import TextEmbeddings, Vocabulary
    vocabulary = Vocabulary.parse(list(classnames))
    assert features.shape[0] == len(vocabulary.names)
    return TextEmbeddings(vocabulary, torch.from_numpy(features),
                          torch.tensor(vocabulary.name_to_class, dtype=torch.long),
                          float(model.backbone.logit_scale))


def seeded_batch(model: nn.Module, arrays: dict[str, np.ndarray],
                 classnames: Sequence[str]) -> dict:
    """The preprocessed batch of a golden case's seeded image (``image_hw``, ``seed``) with
    labels wanted at its ``ori_shape``."""
    from tests.golden_inputs import seeded_image
    ori = tuple(int(v) for v in arrays['ori_shape'])
    image = seeded_image(*(int(v) for v in arrays['image_hw']), int(arrays['seed']))
    data = dict(inputs=[torch.from_numpy(image).permute(2, 0, 1).contiguous()],
                data_samples=[OVDataSample(metainfo=dict(classnames=list(classnames),
                                                         ori_shape=ori))])
    return model.data_preprocessor(data)


def run_seeded_case(model: nn.Module, golden: dict[str, np.ndarray], case: str,
                    classnames: Sequence[str], monkeypatch) -> tuple[dict, Tensor, Tensor]:
    """Run ``model`` on the seeded image of a golden case with the official text features.

    ``golden`` holds ``<case>.image_hw``, ``.seed``, ``.ori_shape`` (and the expected arrays)
    and ``query_features``. Returns (the case's arrays without the prefix, our (H, W, N)
    scores at ``ori_shape`` -- pre-softmax cosine, or the refined (H, W, K) probabilities with
    a score refiner --, our (H, W) labels).
    """
    arrays = {key[len(case) + 1:]: value for key, value in golden.items()
              if key.startswith(f'{case}.')}
    text = official_text(model, golden['query_features'], classnames)
    monkeypatch.setattr(model, 'encode_vocabulary', lambda names, device=None: text)
    ori = tuple(int(v) for v in arrays['ori_shape'])
    with torch.no_grad():
        batch = seeded_batch(model, arrays, classnames)
        encoded = model.encode_images(batch['inputs'], batch['data_samples'])
        result = model.decode(encoded, batch['data_samples'])[0]
        if model.head.score_refiner is None:
            scores = model.stitched_output(encoded, 0, text).map_rows(ori)
        else:  # refined at ori_shape: (K, H, W) class probabilities -> (H, W, K)
            scores = result.seg_logits.data.permute(1, 2, 0)
    return arrays, scores, result.pred_sem_seg.data[0]


def sampled_scores(scores: Tensor, pixels: np.ndarray) -> np.ndarray:
    """(H, W, N) scores at the golden (P, 2) pixel rows/cols -> (N, P)."""
    rows, cols = torch.from_numpy(pixels[:, 0]), torch.from_numpy(pixels[:, 1])
    return scores[rows, cols].T.numpy()


def predict_seeded_case(model: nn.Module, arrays: dict[str, np.ndarray],
                        classnames: Sequence[str]) -> OVDataSample:
    """``model.predict`` on the seeded image of a golden case (``image_hw``, ``seed``) with
    labels wanted at its ``ori_shape``."""
    with torch.no_grad():
        batch = seeded_batch(model, arrays, classnames)
        return model.predict(batch['inputs'], batch['data_samples'])[0]


def prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose key starts with ``prefix``, the prefix removed."""
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def load_official_dino(encoder: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load the fixture's ``dino.<official name>`` weights into a ``DINOEncoder`` (converted)."""
    from ovperception.models.refiners.dino import convert_official_dino
    state = {key: torch.from_numpy(value) for key, value in prefixed(arrays, 'dino.').items()}
    encoder.model.load_state_dict(convert_official_dino(state), strict=True)
def official_layout(method: str, name: str) -> dict[str, Tensor]:
    """Meta tensors of an official checkpoint layout (``official_keys_<name>.json.gz``:
    key -> shape, taken from the official constructors)."""
    import gzip
    import json
    with gzip.open(os.path.join(GOLDEN, method, f'official_keys_{name}.json.gz'), 'rt') as handle:
        layout = json.load(handle)
    return {key: torch.empty(shape, device='meta') for key, shape in layout.items()}


def load_into_config_on_meta(config: str, state: dict[str, Tensor], monkeypatch) -> None:
    """Build ``config``'s model on the meta device (no weights, no pretrained download) and
    load ``state`` into it strictly; fails naming missing / unexpected keys or shapes."""
    import functools

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import ovperception.models.clip.open_clip as open_clip_module
    from ovperception.registry import MODELS
    init_default_scope('ovperception')
    cfg = Config.fromfile(config)
    cfg.model.backbone.pretrained = None
    monkeypatch.setattr(open_clip_module.open_clip, 'create_model',
                        functools.partial(open_clip_module.open_clip.create_model, device='meta'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    result = model.load_state_dict(state, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
