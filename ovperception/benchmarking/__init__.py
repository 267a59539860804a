"""Inference benchmarks: timing primitives, the pipeline/floor runner and reports.

``tools/benchmark.py`` is the command-line front end; see ``docs/benchmarks.md``.
"""
from ovperception.benchmarking.measure import (PeakMemory, overhead_ratio, percentiles,
                                               synchronize, timer)
from ovperception.benchmarking.report import markdown_report, write_report
from ovperception.benchmarking.runner import (measure_text, run_benchmark, run_case, run_floor,
                                              synthetic_images, synthetic_vocabulary)

__all__ = ['PeakMemory', 'overhead_ratio', 'percentiles', 'synchronize', 'timer',
           'markdown_report', 'write_report', 'measure_text', 'run_benchmark', 'run_case',
           'run_floor', 'synthetic_images', 'synthetic_vocabulary']
