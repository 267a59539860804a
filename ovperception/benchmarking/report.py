"""Benchmark reports: environment description, markdown tables, atomic JSON + markdown files."""
from __future__ import annotations

import os
import platform
import time
from typing import Sequence

import torch

from ovperception.benchmarking.measure import cpu_count
from ovperception.utils.atomic import atomic_write_bytes, atomic_write_json

RESULT_COLUMNS = ('size', 'K', 'crops/img', 'img/s', 'p50 ms', 'p90 ms', 'p99 ms',
                  'backbone ms', 'head ms', 'refiners ms', 'floor ms', 'pipeline/floor',
                  'backbone/floor', 'pipeline/floor (CPU time)', 'peak mem MiB')
TEXT_COLUMNS = ('K', 'templates', 'prompts encoded', 'cold s', 'same vocab again ms',
                'reordered vocab ms')


def environment(device: torch.device | str) -> dict:
    """Machine and library facts that a timing depends on."""
    device = torch.device(device)
    env = dict(device=str(device), torch=torch.__version__, threads=torch.get_num_threads(),
               cpus=cpu_count(), machine=platform.machine(),
               processor=platform.processor() or platform.machine(),
               time=time.strftime('%Y-%m-%d %H:%M:%S'))
    if device.type == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(device)
    return env


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def _num(value: float, digits: int = 1) -> str:
    return f'{value:.{digits}f}'


def results_table(results: Sequence[dict]) -> str:
    """Markdown table, one row per (size, vocabulary size) case; times are per image."""
    rows = []
    for res in results:
        lat, stages = res['latency_ms'], res['stages_ms']
        rows.append([
            f'{res["size"][0]}x{res["size"][1]}', str(res['vocab_size']),
            _num(res['crops_per_image'], 1), _num(res['throughput_img_s'], 3),
            _num(lat['p50']), _num(lat['p90']), _num(lat['p99']), _num(stages['backbone']),
            _num(stages['head']), _num(stages['refiners']), _num(res['floor_ms']),
            _num(res['overhead_ratio'], 2), _num(res['backbone_ratio'], 2),
            _num(res.get('cpu_overhead_ratio', float('nan')), 2),
            _num(res['memory']['delta_mib'])])
    return _markdown(RESULT_COLUMNS, rows)


def text_table(text: Sequence[dict]) -> str:
    """Markdown table of the text-encoding cost, one row per vocabulary size."""
    rows = [[str(t['vocab_size']), str(t['templates'] or '-'), str(t['prompts_encoded'] or '-'),
             _num(t['cold_s'], 2), _num(1e3 * t['memo_s'], 3), _num(1e3 * t['cached_names_s'], 2)]
            for t in text]
    return _markdown(TEXT_COLUMNS, rows)


def markdown_report(report: dict) -> str:
    """The whole report as markdown: settings, the results table and the text table."""
    meta, env = report['meta'], report['environment']
    lines = [
        f'## Benchmark: `{meta["config"]}`', '',
        f'- device: {env["device"]}{" (" + env["gpu"] + ")" if "gpu" in env else ""}, '
        f'{env["cpus"]} CPUs, {env["threads"]} torch threads, torch {env["torch"]}',
        f'- images: {meta["images"]} per case (batch {meta["batch_size"]}, warm-up '
        f'{meta["warmup"]}), amp: {meta["amp"] or "none"}, compile: {meta["compile"]}, '
        f'channels-last: {meta.get("channels_last", False)}',
        f'- test_cfg: {meta["test_cfg"]}, template set: {meta["template_set"]}, labels at '
        f'{meta.get("label_scale", 1.0):g} x the input size',
        f'- floor: {meta["floor"]} over the same crops and batching, run right after each '
        f'pipeline step; memory: '
        f'{meta["memory_method"]} growth during the timed images', '',
        results_table(report['results']), '',
        'Text encoding (first vocabulary: cold cache; then from the cache):', '',
        text_table(report['text']), '']
    return '\n'.join(lines)


def write_report(report: dict, out_dir: str, stem: str = 'benchmark') -> tuple[str, str]:
    """Write ``{stem}.json`` and ``{stem}.md`` into ``out_dir`` atomically; their paths."""
    json_path = os.path.join(out_dir, f'{stem}.json')
    md_path = os.path.join(out_dir, f'{stem}.md')
    atomic_write_json(json_path, report)
    atomic_write_bytes(md_path, markdown_report(report).encode('utf-8'))
    return json_path, md_path
