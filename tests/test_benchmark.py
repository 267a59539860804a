"""Benchmark harness (tools/benchmark.py, ovperception.benchmarking) and the fast inference path."""
from __future__ import annotations

import importlib.util
import json
import os
import time

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from ovperception.benchmarking import PeakMemory, overhead_ratio, percentiles, timer
from ovperception.benchmarking.runner import (CaseResult, StepTimes, label_size, make_batch,
                                              run_case, synthetic_images)
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.segmentation import DenseSimilarityHead
from ovperception.models.inference import encode_windows, sliding_windows, stitch_windows
from ovperception.structures import OVDataSample
from tests.tiny import TINY_CLIP_KWARGS
from tests.toy_models import ToyBackbone, toy_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CONFIG = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')


def _load_tool():
    path = os.path.join(ROOT, 'tools', 'benchmark.py')
    spec = importlib.util.spec_from_file_location('benchmark_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_backbone(pretrained: str | None = None) -> OpenCLIPBackbone:
    return OpenCLIPBackbone('ViT-B-16', pretrained, dense_mode='sclip',
                            model_kwargs=dict(TINY_CLIP_KWARGS))


def _tiny_model(backbone: OpenCLIPBackbone | None = None, **kwargs) -> OVModel:
    test_cfg = {**dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
                **kwargs.pop('test_cfg', {})}
    return OVModel(backbone or _tiny_backbone(), DenseSimilarityHead(logit_scale=40.0),
                   template_set='single', test_cfg=test_cfg, **kwargs).eval()


def _encoded_features(model: OVModel, images: list[torch.Tensor]) -> list[torch.Tensor]:
    data = model.data_preprocessor(dict(inputs=images, data_samples=[
        OVDataSample(metainfo=dict(classnames=['a'])) for _ in images]))
    encoded = model.encode_images(data['inputs'], data['data_samples'])
    return [feat for per_image in encoded.features for feat in per_image]


# ---------------------------------------------------------------- measurement primitives
def test_percentiles_known_answers():
    assert percentiles([4, 1, 3, 2]) == pytest.approx(dict(p50=2.5, p90=3.7, p99=3.97))
    assert percentiles([7.0]) == dict(p50=7.0, p90=7.0, p99=7.0)
    assert percentiles([0, 10], qs=(0, 25, 100)) == dict(p0=0.0, p25=2.5, p100=10.0)
    values = np.random.default_rng(0).random(37)
    got = percentiles(values.tolist(), qs=(50, 90, 99))
    assert list(got.values()) == pytest.approx(np.percentile(values, [50, 90, 99]).tolist())
    with pytest.raises(ValueError):
        percentiles([])


def test_timer_and_peak_memory():
    with timer() as elapsed:
        time.sleep(0.02)
    assert elapsed.seconds >= 0.02
    with PeakMemory('cpu') as memory:
        block = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, touched
        del block
    if memory.method == 'rss-hwm':
        assert memory.delta_bytes >= 48 << 20
    assert memory.peak_bytes > 0 and memory.as_dict()['method'] == memory.method


def test_floor_ratio_and_case_summary():
    assert overhead_ratio(3.0, 1.5) == 2.0 and overhead_ratio(1.0, 0.0) == float('inf')
    case = CaseResult((64, 96), 5, batch_size=1, crops_per_image=2.0,
                      steps=[StepTimes(0.0, 0.2, 0.1, 0.0, cpu=0.3),
                             StepTimes(0.1, 0.3, 0.1, 0.1, cpu=0.5)],
                      step_images=[1, 1], floor=[0.1, 0.3], floor_cpu=[0.2, 0.2],
                      memory=dict(delta_mib=1.0))
    summary = case.summary()
    assert summary['overhead_ratio'] == pytest.approx(0.9 / 0.4)
    assert summary['backbone_ratio'] == pytest.approx(0.5 / 0.4)
    assert summary['cpu_overhead_ratio'] == pytest.approx(0.8 / 0.4)
    assert summary['throughput_img_s'] == pytest.approx(2 / 0.9)
    assert summary['latency_ms']['p50'] == pytest.approx(450.0)
    assert summary['stages_ms'] == pytest.approx(dict(preprocess=50.0, backbone=250.0,
                                                      head=100.0, refiners=50.0))
    assert summary['floor_ms'] == pytest.approx(200.0)


def test_label_scale_sets_the_label_size():
    assert label_size((336, 448), 1.52) == (511, 681) and label_size((3, 5)) == (3, 5)
    model = toy_model()
    batch = make_batch(synthetic_images(1, (20, 28)), ['a', 'b'], label_scale=1.5)
    assert model.test_step(batch)[0].pred_sem_seg.data.shape == (1, 30, 42)


def test_floor_runs_the_same_crops_with_the_same_batching(monkeypatch):
    model = _tiny_model(test_cfg=dict(crop_batch_size=3))
    calls: dict[str, list] = dict(pipeline=[], floor=[])
    for name, key in (('dense_features', 'pipeline'), ('image_embedding', 'floor')):
        original = getattr(model.backbone, name)

        def spy(crops, original=original, key=key):
            calls[key].append(tuple(crops.shape))
            return original(crops)
        monkeypatch.setattr(model.backbone, name, spy)
    case = run_case(model, (64, 128), ['a', 'b'], num_images=2, batch_size=2, warmup=0)
    assert calls['pipeline'] == calls['floor'] == [(3, 3, 64, 64), (3, 3, 64, 64)]
    assert case.crops_per_image == 3.0 and len(case.floor) == 1


# ---------------------------------------------------------------- the command line
def test_cli_writes_json_and_markdown(tmp_path, capsys):
    tool = _load_tool()
    report = tool.main([TINY_CONFIG, '--images', '2', '--size', '64x96,32x48',
                        '--vocab-size', '3', '--warmup', '1', '--out', str(tmp_path),
                        '--label-scale', '1.5'])
    saved = json.loads((tmp_path / 'benchmark.json').read_text())
    assert saved['meta']['images'] == 2 and saved['environment']['device'] == 'cpu'
    assert saved['meta']['label_scale'] == 1.5
    assert set(saved) == {'meta', 'environment', 'text', 'results'}
    assert [r['size'] for r in saved['results']] == [[64, 96], [32, 48]]
    for result in saved['results']:
        assert result['images'] == 2 and result['vocab_size'] == 3
        assert result['throughput_img_s'] > 0 and result['floor_ms'] > 0
        assert result['overhead_ratio'] > 0 and result['backbone_ratio'] > 0
        assert result['cpu_overhead_ratio'] > 0
        assert set(result['latency_ms']) == {'p50', 'p90', 'p99', 'mean'}
        assert all(v > 0 for v in result['latency_ms'].values())
        assert result['stages_ms']['backbone'] > 0 and result['stages_ms']['head'] > 0
        assert result['memory']['delta_mib'] >= 0
    text = saved['text'][0]
    assert text['names_encoded'] == 3 and text['prompts_encoded'] == 3
    assert text['cold_s'] > 0 and text['memo_s'] < text['cold_s']
    markdown = (tmp_path / 'benchmark.md').read_text()
    assert '| 64x96 | 3 |' in markdown and 'pipeline/floor' in markdown
    assert markdown.strip() in capsys.readouterr().out
    assert report['results'] == saved['results']


def test_cli_size_and_vocabulary_parsing():
    tool = _load_tool()
    args = tool.parse_args(['x.py', '--size', '336x448,224', '--size', '64X96',
                            '--vocab-size', '10,150', '--amp', 'bf16', '--channels-last'])
    assert args.channels_last and args.amp == 'bf16'
    assert args.sizes == [(336, 448), (224, 224), (64, 96)] and args.vocab_sizes == [10, 150]
    with pytest.raises(SystemExit):
        tool.parse_args(['x.py', '--size', '3x4x5'])


# ---------------------------------------------------------------- the fast path
def test_batched_crops_equal_unbatched():
    backbone = _tiny_backbone()
    generator = torch.Generator().manual_seed(0)
    images = [torch.randn(3, 64, 128, generator=generator),
              torch.randn(3, 96, 96, generator=generator)]
    windows = [sliding_windows(img.shape[-2], img.shape[-1], 64, 32) for img in images]
    with torch.no_grad():
        batched = encode_windows(images, windows, backbone.dense_features, 16)
        single = encode_windows(images, windows, backbone.dense_features, 1)
    pairs = [(b, s) for per_b, per_s in zip(batched, single) for b, s in zip(per_b, per_s)]
    assert len(pairs) == 3 + 4
    assert max(float((b - s).abs().max()) for b, s in pairs) <= 1e-5


def test_second_model_with_same_text_cache_dir_encodes_nothing(tmp_path, monkeypatch):
    clip = open_clip.create_model('ViT-B-16', pretrained=None, **TINY_CLIP_KWARGS)
    weights = tmp_path / 'tiny_clip.pt'
    torch.save(clip.state_dict(), weights)
    names = ['cat', 'dog; puppy', 'traffic light']
    first = _tiny_model(_tiny_backbone(str(weights)), text_cache_dir=str(tmp_path / 'cache'))
    cold = first.encode_vocabulary(names).embeddings
    assert first.text_cache.num_encoded_names == 4 and first.text_cache.disk_path is not None

    backbone = _tiny_backbone(str(weights))
    assert backbone.weights_id == first.backbone.weights_id  # stable across builds
    text_calls = []
    encode_text = backbone.encode_text
    monkeypatch.setattr(backbone, 'encode_text',
                        lambda texts: text_calls.append(texts) or encode_text(texts))
    second = _tiny_model(backbone, text_cache_dir=str(tmp_path / 'cache'))
    cached = second.encode_vocabulary(names).embeddings
    assert second.text_cache.num_encoded_names == 0 and text_calls == []
    assert torch.equal(cached, cold)
    uncached = _tiny_model(_tiny_backbone(str(weights))).encode_vocabulary(names).embeddings
    assert torch.equal(uncached, cold)


def test_text_embeddings_are_not_inference_tensors():
    model = _tiny_model()
    embeddings = model.encode_vocabulary(['a', 'b']).embeddings
    assert not embeddings.is_inference() and not embeddings.requires_grad
    weight = torch.ones(embeddings.shape[-1], requires_grad=True)
    (embeddings @ weight).square().sum().backward()  # inference tensors would refuse this
    assert weight.grad is not None


def test_amp_bf16_is_close_to_fp32():
    backbone = _tiny_backbone()
    images = [torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)]
    fp32 = _encoded_features(_tiny_model(backbone), images)
    bf16 = _encoded_features(_tiny_model(backbone, test_cfg=dict(amp_dtype='bf16')), images)
    assert all(feat.dtype == torch.float32 for feat in bf16)
    cosine = torch.cat([F.cosine_similarity(a, b, dim=0).flatten() for a, b in zip(fp32, bf16)])
    assert float(cosine.min()) > 0.99


def test_channels_last_gives_the_same_features():
    backbone = _tiny_backbone()
    images = [torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)]
    default = _encoded_features(_tiny_model(backbone), images)
    model = _tiny_model(backbone, test_cfg=dict(channels_last=True))
    channels_last = _encoded_features(model, images)
    assert backbone.visual.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(default, channels_last):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match='channels_last'):
        toy_model(test_cfg=dict(channels_last=1))


def test_amp_and_compile_keys_are_validated():
    assert toy_model(test_cfg=dict(amp_dtype='fp16', compile=False)).test_cfg['amp_dtype'] == \
        'fp16'
    with pytest.raises(ValueError, match='amp_dtype'):
        toy_model(test_cfg=dict(amp_dtype='int8'))
    with pytest.raises(ValueError, match='compile'):
        toy_model(test_cfg=dict(compile='yes'))


@pytest.mark.parametrize('fails_at', ['build', 'call'])
def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch, fails_at):
    def broken_compile(fn):
        if fails_at == 'build':
            raise RuntimeError('no compiler here')

        def compiled(_):
            raise RuntimeError('backend failed')
        return compiled
    monkeypatch.setattr(torch, 'compile', broken_compile)
    images = [torch.randint(0, 256, (3, 20, 28), dtype=torch.uint8)]
    eager = _encoded_features(toy_model(), images)
    model = toy_model(test_cfg=dict(mode='slide', crop_size=16, stride=8, crop_batch_size=4,
                                    compile=True))
    with pytest.warns(RuntimeWarning, match='torch.compile'):
        first = _encoded_features(model, images)
    second = _encoded_features(model, images)  # stays eager, no second warning needed
    for a, b, c in zip(eager, first, second):
        assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get('OVP_COMPILE_TESTS') != '1',
                    reason='a real torch.compile takes about a minute on CPU: '
                           'set OVP_COMPILE_TESTS=1')
def test_real_compile_matches_eager():
    backbone = _tiny_backbone()
    images = [torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)]
    eager = _encoded_features(_tiny_model(backbone), images)
    compiled = _encoded_features(_tiny_model(backbone, test_cfg=dict(compile=True)), images)
    for a, b in zip(eager, compiled):
        assert torch.allclose(a, b, atol=1e-4)


# ---------------------------------------------------------------- fast head path == reference
def _reference_labels(head: DenseSimilarityHead, cosine: torch.Tensor, text, size):
    """The plain protocol on a materialised map: resize, softmax, synonym max, thresholds."""
    cosine = F.interpolate(cosine[None], size=size, mode='bilinear', align_corners=False)[0]
    probs = text.reduce_synonyms(torch.softmax(cosine * head.scale(text), dim=0), dim=0)
    background = 255 if head.background_index is None else head.background_index
    if head.area_threshold > 0:
        probs[:text.num_classes][head._small_classes(probs.argmax(0), text.num_classes)] = 0
    best, labels = probs.max(0)
    labels[best < head.prob_threshold] = background
    labels[labels == text.num_classes] = background
    top2 = probs.topk(2, dim=0).values
    near_tie = ((top2[0] - top2[1]) < 1e-5) | ((best - head.prob_threshold).abs() < 1e-5)
    return labels, near_tie


@pytest.mark.parametrize('head_kwargs,background_words', [
    (dict(logit_scale=40.0), ()),                                           # ADE-style: no softmax
    (dict(logit_scale=65.0, prob_threshold=0.3, background_index=0, area_threshold=0.1), ()),
    (dict(logit_scale=50.0, prob_threshold=0.2), ('sky', 'wall')),         # virtual background
])
def test_fast_head_path_equals_the_reference_protocol(head_kwargs, background_words):
    classnames = ['thing', 'cat; kitten', 'dog; puppy; hound', 'grass', 'road', 'tree']
    model = toy_model(head_kwargs=head_kwargs, background_words=background_words)
    head_calls = []
    forward = model.head.forward
    model.head.forward = lambda feats, text: head_calls.append(feats.shape[0]) or forward(
        feats, text)
    generator = torch.Generator().manual_seed(5)
    images = [torch.randint(0, 256, (3, 30, 41), generator=generator, dtype=torch.uint8),
              torch.randint(0, 256, (3, 24, 36), generator=generator, dtype=torch.uint8)]
    ori_shapes = [(45, 61), (24, 36)]
    samples = [OVDataSample(metainfo=dict(classnames=classnames, ori_shape=shape))
               for shape in ori_shapes]
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples))
    encoded = model.encode_images(data['inputs'], data['data_samples'])
    predicted = model.decode(encoded, data['data_samples'])
    assert head_calls == [len(w) for w in encoded.windows]  # one head call per image
    text = model.encode_vocabulary(classnames)
    for index, sample in enumerate(predicted):
        per_window = [forward(feat[None], text)[0] for feat in encoded.features[index]]
        cosine = stitch_windows(per_window, encoded.windows[index], encoded.image_sizes[index],
                                model.backbone.patch_size)
        expected, near_tie = _reference_labels(model.head, cosine, text, ori_shapes[index])
        got = sample.pred_sem_seg.data[0]
        assert got.shape == ori_shapes[index]
        assert bool(((got == expected) | near_tie).all())
        assert float((got == expected).float().mean()) > 0.999


def test_heads_without_lazy_outputs_get_stitched_tensors():
    model = toy_model()
    received = []

    class TensorHead(DenseSimilarityHead):
        takes_stitched_windows = False

        def predict(self, outputs, text, data_samples, images=None):
            received.extend(outputs)
            return super().predict(outputs, text, data_samples)

    model.head = TensorHead()
    batch = dict(inputs=[torch.randint(0, 256, (3, 20, 28), dtype=torch.uint8)],
                 data_samples=[OVDataSample(metainfo=dict(classnames=['a', 'b', 'c']))])
    data = model.data_preprocessor(batch)
    encoded = model.encode_images(data['inputs'], data['data_samples'])
    model.decode(encoded, data['data_samples'])
    text = model.encode_vocabulary(['a', 'b', 'c'])
    expected = stitch_windows([model.head(f[None], text)[0] for f in encoded.features[0]],
                              encoded.windows[0], (20, 28), model.backbone.patch_size)
    assert isinstance(received[0], torch.Tensor) and received[0].shape == (3, 20, 28)
    assert torch.allclose(received[0], expected, atol=1e-6)


def test_ade_vocabulary_with_80_templates_is_encoded_once():
    """150 classes x 80 templates: 12,000 prompts through the text tower, once per model."""
    backbone = ToyBackbone()
    model = toy_model(backbone=backbone, template_set='imagenet80')
    classnames = [f'class {index}' for index in range(150)]
    batch = lambda: dict(  # noqa: E731
        inputs=[torch.randint(0, 256, (3, 20, 20), dtype=torch.uint8) for _ in range(2)],
        data_samples=[OVDataSample(metainfo=dict(classnames=classnames)) for _ in range(2)])
    model.test_step(batch())
    model.test_step(batch())
    model.encode_vocabulary(list(reversed(classnames)))
    model.encode_vocabulary(classnames, device='cpu')
    prompts = [prompt for call in backbone.text_calls for prompt in call]
    assert len(prompts) == 150 * 80 == len(set(prompts))
    assert model.text_cache.num_encoded_names == 150


# ---------------------------------------------------------------- every task's configs
TASK_CONFIGS = {  # tiny config -> (model class, floor method, whether SAM / refiners run)
    'anomaly_tiny_winclip': ('OVAnomalyModel', 'image_embedding', False),
    'anomaly_tiny_anomalyclip_train': ('OVAnomalyModel', 'image_embedding', False),
    'anomaly_tiny_adaclip': ('OVAnomalyModel', 'image_embedding', False),
    'count_tiny_ebc': ('OVModel', 'image_embedding', False),
    'count_tiny_zeroshot': ('OVModel', 'image_embedding', True),
    'det_tiny': ('OVModel', 'image_embedding', False),
    'det_tiny_sam': ('OVModel', 'image_embedding', True),
    'det_tiny_learned': ('OVModel', 'image_embedding', False),
    'det_tiny_fvit': ('FViT', 'image_embedding', False),
    'fcclip_tiny': ('FCCLIP', 'multiscale_features', False),
    'seg_tiny_catseg': ('CATSeg', 'image_embedding', False),
    'seg_tiny_trident': ('OVModel', 'image_embedding', True),
    'seg_tiny_sam': ('OVModel', 'image_embedding', True),
    'seg_tiny_proxyclip': ('OVModel', 'image_embedding', False),
    'seg_tiny_scclip': ('OVModel', 'image_embedding', False),
    'seg_tiny_resclip': ('OVModel', 'image_embedding', False),
    'seg_tiny_lposs': ('OVModel', 'image_embedding', False),
    'seg_tiny_talk2dino': ('OVModel', 'image_embedding', False),
    'seg_tiny_cass': ('OVModel', 'image_embedding', False),
    'seg_tiny_corrclip': ('OVModel', 'image_embedding', True),
    'seg_tiny_sam2': ('OVModel', 'image_embedding', True),
    'count_tiny_zeroshot_sam2': ('OVModel', 'image_embedding', True),
}


@pytest.mark.parametrize('name', sorted(TASK_CONFIGS))
def test_every_task_config_benchmarks_with_ratio_fields(name, tmp_path, one_thread):
    model_class, floor, uses_sam = TASK_CONFIGS[name]
    config = os.path.join(ROOT, 'configs', 'tiny', f'{name}.py')
    _load_tool().main([config, '--images', '1', '--size', '64', '--vocab-size', '2',
                       '--warmup', '0', '--out', str(tmp_path)])
    saved = json.loads((tmp_path / 'benchmark.json').read_text())
    assert saved['meta']['model'] == model_class
    assert saved['meta']['floor'] == f'backbone.{floor} (eager)'
    (result,) = saved['results']
    assert result['size'] == [64, 64] and result['images'] == 1 and result['vocab_size'] == 2
    for key in ('overhead_ratio', 'backbone_ratio', 'cpu_overhead_ratio', 'floor_ms',
                'throughput_img_s'):
        assert 0 < result[key] < float('inf'), key
    stages = result['stages_ms']
    assert set(stages) == {'preprocess', 'backbone', 'head', 'refiners'}
    assert stages['backbone'] > 0 and stages['head'] > 0
    assert (stages['refiners'] > 0) == uses_sam
    total = sum(stages.values())
    assert total == pytest.approx(result['latency_ms']['mean'], rel=1e-6)
    assert result['overhead_ratio'] == pytest.approx(total / result['floor_ms'], rel=1e-6)
    assert saved['text'][0]['vocab_size'] == 2 and saved['text'][0]['cold_s'] > 0
    assert 'pipeline/floor' in (tmp_path / 'benchmark.md').read_text()


def test_nested_timed_methods_count_once():
    from ovperception.benchmarking.adapters import timed_methods

    class Nested:
        def outer(self):
            time.sleep(0.01)
            return self.inner() + 1

        def inner(self):
            time.sleep(0.01)
            return 1
    obj = Nested()
    with timed_methods([(obj, 'outer'), (obj, 'inner')], torch.device('cpu')) as total:
        assert obj.outer() == 2
    assert 0.02 <= total.seconds < 0.035  # not 0.03 + 0.01
    assert 'outer' not in vars(obj) and 'inner' not in vars(obj)  # unpatched afterwards


def test_a_model_without_the_pipeline_contract_gets_a_clear_error():
    from ovperception.benchmarking import run_benchmark
    from ovperception.benchmarking.adapters import NotBenchmarkableError
    with pytest.raises(NotBenchmarkableError, match='Linear.*encode_images'):
        run_benchmark(torch.nn.Linear(2, 2), [(8, 8)], [1], num_images=1)


def test_image_caches_are_cleared_before_every_timed_step():
    from ovperception.benchmarking.adapters import clear_image_caches
    from ovperception.benchmarking.runner import timed_predict

    class CachingHead(torch.nn.Module):
        cleared = 0

        def clear_cache(self):
            CachingHead.cleared += 1
    model = toy_model()
    model.add_module('cache_owner', CachingHead())
    clear_image_caches(model)
    assert CachingHead.cleared == 1
    timed_predict(model, make_batch(synthetic_images(1, (20, 28)), ['a']), torch.device('cpu'))
    assert CachingHead.cleared == 2


@pytest.mark.gpu
def test_benchmark_tool_runs_the_gpu_path_with_bf16_and_compile(tmp_path):
    """Issue #32 item 5: ``--device cuda --amp bf16 --compile`` runs and writes its table."""
    report = _load_tool().main([TINY_CONFIG, '--device', 'cuda', '--amp', 'bf16', '--compile',
                                '--images', '2', '--warmup', '1', '--size', '64x96',
                                '--vocab-size', '3', '--out', str(tmp_path)])
    assert report['meta']['amp'] == 'bf16' and report['meta']['compile'] is True
    assert report['meta']['test_cfg']['amp_dtype'] == 'bf16'
    (row,) = report['results']
    assert row['floor_ms'] > 0 and 'cuda' in row['memory']['method']
    assert os.path.isfile(tmp_path / 'benchmark.md')


def test_onnx_runtimes_refuse_the_gpu_options_while_parsing(capsys):
    tool = _load_tool()
    for runtime in ('onnx', 'openvino'):
        with pytest.raises(SystemExit):
            tool.parse_args([TINY_CONFIG, '--runtime', runtime, '--device', 'cuda'])
        assert 'float32' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args([TINY_CONFIG, '--quantize', 'int8'])
    args = tool.parse_args([TINY_CONFIG, '--device', 'cuda', '--amp', 'bf16', '--compile'])
    assert (args.device, args.amp, args.compile) == ('cuda', 'bf16', True)
