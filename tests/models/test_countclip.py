"""CountCLIP: numbers in captions, its counting loss, number-prompt counting, CountBench,
the image-level counter beside dense counters, and tools/train.py + tools/test.py."""
from __future__ import annotations

import csv
import json
import math
import os
import random

import cv2
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from ovperception.datasets.clip_transforms import CLIPResizeCenterCrop
from ovperception.datasets.countbench import CountBenchDataset, SyntheticCountCaptionDataset
from ovperception.datasets.synthetic_counting import make_dot_image
from ovperception.models.counting import CountCLIP, counting_contrastive_loss
from ovperception.models.counting.number_prompts import choose_numbers
from ovperception.models.counting.number_words import (caption_variants, count_prompt,
                                                       count_span, counterfactual_caption,
                                                       number_spans, plural, with_number)
from ovperception.structures import OVDataSample
from ovperception.utils.atomic import atomic_save_image
from tests.scripts import ROOT, demo, test_tool, train_tool

TINY_KWARGS = dict(embed_dim=32,
                   vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
                   text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
TINY_COUNTCLIP = os.path.join(ROOT, 'configs', 'tiny', 'count_tiny_countclip.py')
TINY_IMAGE_COUNT = os.path.join(ROOT, 'configs', 'tiny', 'count_tiny_zeroshot_image_count.py')


def tiny_countclip(**kwargs) -> CountCLIP:
    return CountCLIP(backbone=dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                                   model_kwargs=TINY_KWARGS), **kwargs)


# ---------------------------------------------------------------- numbers in captions
def test_number_spans_find_words_and_digits_with_their_values():
    spans = number_spans('Three dogs and 12 cats, not threesome')
    assert [(s.value, s.start, s.end) for s in spans] == [(3, 0, 5), (12, 15, 17)]


def test_swapping_keeps_the_form_of_the_number():
    caption = 'Three dogs playing in the yard'
    assert with_number(caption, count_span(caption), 6) == 'Six dogs playing in the yard'
    assert with_number('THREE DOGS', count_span('THREE DOGS'), 4) == 'FOUR DOGS'
    assert with_number('3 dogs', count_span('3 dogs'), 7) == '7 dogs'
    assert caption_variants('two cats and one dog', 2, (2, 5)) == [
        'two cats and one dog', 'five cats and one dog']


def test_count_span_needs_the_stated_number_or_a_single_number():
    with pytest.raises(ValueError, match='does not state the number 4'):
        count_span('three dogs', 4)
    with pytest.raises(ValueError, match='states 2 numbers'):
        count_span('two cats and one dog')


def test_counterfactual_never_repeats_the_true_number():
    rng = random.Random(0)
    caps = {counterfactual_caption('a photo of four apples', 4, rng) for _ in range(200)}
    assert 'a photo of four apples' not in caps
    assert len(caps) == 8  # two .. ten without four


@pytest.mark.parametrize('name, expected', [('dog', 'dogs'), ('person', 'people'),
                                            ('bus', 'buses'), ('dogs', 'dogs'),
                                            ('traffic light', 'traffic lights')])
def test_plural_names(name, expected):
    assert plural(name) == expected


def test_count_prompt_states_number_and_plural():
    assert count_prompt('red dot', 3) == 'a photo of three red dots.'
    assert count_prompt('apple', 1, '{number} {name}') == 'one apple'


# ---------------------------------------------------------------- loss and prediction
def test_counting_loss_known_answer():
    image = torch.tensor([[1.0, 0.0]])
    true = torch.tensor([[0.6, 0.8]])
    false = torch.tensor([[0.0, 1.0]])
    scale = torch.tensor(10.0)
    expected = -math.log(math.exp(6.0) / (math.exp(6.0) + math.exp(0.0)))
    assert float(counting_contrastive_loss(image, true, false, scale)) == pytest.approx(expected)


def test_choose_numbers_takes_the_most_similar_prompt():
    images = torch.eye(3)[:2]  # (2, 3)
    prompts = torch.eye(3)[None].repeat(2, 1, 1)  # K=2 classes x N=3 numbers
    result = choose_numbers(images, prompts, 100.0, (2, 3, 4))
    assert result.counts.tolist() == [[2.0, 2.0], [3.0, 3.0]]
    assert torch.allclose(result.probabilities.sum(-1), torch.ones(2, 2))


def test_predict_counts_captions_and_vocabularies_encoding_each_prompt_once():
    model = tiny_countclip(numbers=(2, 3, 4)).eval()
    images = torch.rand(2, 3, 64, 64)
    captioned = OVDataSample(metainfo=dict(caption='three red dots', count_number=3))
    named = OVDataSample(metainfo=dict(classnames=['red dot', 'person; man']))
    out = model.predict(images, [captioned, named])
    assert out[0].pred_count.shape == (1,) and float(out[0].pred_count[0]) in (2, 3, 4)
    assert out[1].pred_count.shape == (2,)
    assert out[1].metainfo['count_probabilities'].shape == (2, 3)
    encoded = model.number_prompts.cache.num_encoded_names
    assert encoded == 3 + 6
    model.predict(images[:1], [OVDataSample(metainfo=dict(classnames=['red dot', 'person']))])
    assert model.number_prompts.cache.num_encoded_names == encoded  # cached


def test_training_needs_captions_with_counts():
    model = tiny_countclip()
    with pytest.raises(KeyError, match='caption'):
        model.loss(torch.rand(1, 3, 64, 64), [OVDataSample(metainfo=dict(classnames=['x']))])


def test_clip_crop_equals_open_clip_preprocessing():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    ours = CLIPResizeCenterCrop(64)({'img': image})['img']
    preprocess = open_clip.image_transform(64, is_train=False, mean=(0, 0, 0), std=(1, 1, 1))
    theirs = preprocess(Image.fromarray(image)).permute(1, 2, 0).numpy()
    assert ours.shape == (64, 64, 3)
    assert np.abs(ours / 255.0 - theirs).max() < 1e-6


# ---------------------------------------------------------------- CountBench
def _countbench(root, records, present):
    os.makedirs(root / 'images')
    (root / 'CountBench.json').write_text(json.dumps(records))
    for index in present:
        atomic_save_image(str(root / 'images' / f'{index}.jpg'),
                          np.full((40, 50, 3), 100 + index, np.uint8))


def test_countbench_reads_the_records_whose_images_are_present(tmp_path):
    records = [dict(image_url='http://x/0', text='Two cats on a sofa', number=2),
               dict(image_url='http://x/1', text='five red apples', number=5),
               dict(image_url='http://x/2', text='A box of 7 eggs', number=7)]
    _countbench(tmp_path, records, present=[0, 2])
    dataset = CountBenchDataset(
        data_root=str(tmp_path), test_mode=True,
        pipeline=[dict(type='LoadImageFromFile'), dict(type='CLIPResizeCenterCrop', size=32),
                  dict(type='PackCaptionCountInputs')])
    assert len(dataset) == 2
    sample = dataset[1]['data_samples']
    assert sample.metainfo['caption'] == 'A box of 7 eggs'
    assert sample.gt_count.tolist() == [7.0]
    assert dataset[1]['inputs'].shape == (3, 32, 32)


def test_countbench_rejects_a_caption_without_its_number(tmp_path):
    _countbench(tmp_path, [dict(text='some cats', number=3)], present=[0])
    with pytest.raises(ValueError, match='does not state the number 3'):
        CountBenchDataset(data_root=str(tmp_path), test_mode=True)


def test_synthetic_scenes_show_as_many_dots_as_the_caption_says():
    dataset = SyntheticCountCaptionDataset(num_samples=6, min_count=2, max_count=10)
    for index in range(6):
        info = dataset.get_data_info(index)
        number = info['count_number']
        assert count_span(info['caption'], number).value == number
        dots = info['img'].max(-1) > 150
        assert cv2.connectedComponents(dots.astype(np.uint8))[0] - 1 == number


# ---------------------------------------------------------------- tools
def test_tiny_countclip_trains_its_counting_loss_down_and_counts_better(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        before = test_tool.main([TINY_COUNTCLIP, '--work-dir', str(tmp_path / 'before')])
        work = str(tmp_path / 'work')
        runner = train_tool.main([TINY_COUNTCLIP, '--work-dir', work])
        history = runner.message_hub.get_scalar('train/loss_count').data[0]
        after = test_tool.main([TINY_COUNTCLIP, '--work-dir', str(tmp_path / 'after'),
                                '--weights', os.path.join(work, 'iter_80.pth')])
    finally:
        torch.set_num_threads(threads)
    assert history[-3:].mean() < 0.6 * history[:3].mean(), history
    assert after['test/accuracy'] > max(before['test/accuracy'], 100 / 3 + 20)
    assert after['test/MAE'] < before['test/MAE']


def test_demo_counts_by_number_prompts_with_the_countclip_config(tmp_path):
    image, _, _ = make_dot_image(1, 0, (64, 64), min_count=3, max_count=3, radius=6)
    path = tmp_path / 'dots.png'
    atomic_save_image(str(path), image)
    code = demo.main([str(path), '--vocab', 'red dot, blue dot', '--config', TINY_COUNTCLIP,
                      '--out', str(tmp_path / 'out')])
    assert code == 0
    record = json.loads((tmp_path / 'out' / 'dots_count.json').read_text())
    assert [c['label'] for c in record['counts']] == ['red dot', 'blue dot']
    assert all(c['count'] in (2, 3, 4) for c in record['counts'])


def test_demo_shows_the_image_level_count_beside_the_dense_count(tmp_path):
    from ovperception.models.refiners import SAMWrapper
    checkpoint = tmp_path / 'sam_tiny.pth'
    torch.save(SAMWrapper(model_type='tiny').state_dict(), checkpoint)
    folder = tmp_path / 'images'
    for index in range(2):
        image, _, _ = make_dot_image(index, 0, (48, 64), max_count=6)
        atomic_save_image(str(folder / f'dots{index}.png'), image)
    code = demo.main([str(folder), '--vocab', 'red dot', '--config', TINY_IMAGE_COUNT,
                      '--sam-checkpoint', str(checkpoint), '--sam-model', 'tiny',
                      '--out', str(tmp_path / 'out')])
    assert code == 0
    record = json.loads((tmp_path / 'out' / 'dots0_count.json').read_text())
    assert record['image_level_counts'][0]['label'] == 'red dot'
    assert record['image_level_counts'][0]['count'] in range(2, 11)
    rows = list(csv.reader((tmp_path / 'out' / 'counts.csv').open()))
    assert rows[0] == ['image', 'red dot', 'total', 'red dot (image-level)']
    assert len(rows) == 3 and all(int(row[3]) in range(2, 11) for row in rows[1:])


def test_annotate_records_number_prompt_counts(tmp_path):
    from tests.scripts import load_script
    annotate = load_script('tools/annotate.py')
    folder = tmp_path / 'in'
    image, _, _ = make_dot_image(0, 0, (64, 64), min_count=3, max_count=3, radius=6)
    atomic_save_image(str(folder / 'dots.png'), image)
    code = annotate.main([str(folder), '--vocab', 'red dot', '--config', TINY_COUNTCLIP,
                          '--out', str(tmp_path / 'out'), '--no-progress'])
    assert code == 0
    items = list((tmp_path / 'out' / '.annotate' / 'items').glob('*.json'))
    record = json.loads(items[0].read_text())['record']
    assert len(record['extra']['counts']) == 1 and record['extra']['counts'][0] in (2, 3, 4)


def test_annotate_default_configs_exist():
    from ovperception.annotation.model import _REPO, DEFAULT_CONFIGS
    for task, config in DEFAULT_CONFIGS.items():
        assert os.path.isfile(os.path.join(_REPO, config)), (task, config)


def test_web_app_counts_with_countclip_and_shows_the_image_level_count(tmp_path):
    from ovperception.webapp import AnnotationService, AppSession
    from ovperception.webapp.tasks import configs_for_task
    assert 'tiny/count_tiny_countclip.py' in configs_for_task('counting')
    assert 'counting/countclip_vitb32_countbench.py' in configs_for_task('counting')
    service = AnnotationService({'counting': TINY_COUNTCLIP}, sam_model='tiny')
    session = AppSession.create(str(tmp_path))
    try:
        image, _, _ = make_dot_image(0, 0, (64, 64), min_count=3, max_count=3, radius=6)
        path = tmp_path / 'dots.png'
        atomic_save_image(str(path), image)
        rows = service.run(session, str(path), 'red dot', 'counting', TINY_COUNTCLIP).rows
        assert rows[0][0] == 'red dot' and int(rows[0][1]) in (2, 3, 4)
    finally:
        session.close()
