"""Label Studio import JSON: ``tasks.json`` (one task per image, with the model's
predictions) and ``label_config.xml`` (the labelling interface these results fit).

Each task is ``{"data": {"image": <image URL or absolute path>, "name", "frame_index",
"timestamp"}, "predictions": [{"model_version", "score", "result": [...]}]}``; each
object gives a ``rectanglelabels`` result (x, y, width, height in percent of the image)
and, with a mask, a ``brushlabels`` result whose ``rle`` is Label Studio's brush encoding
(below) -- exact, holes kept. ``data.image`` is the absolute local path unless
``ExportOptions.image_root`` gives a URL prefix (Label Studio's local-file serving
``/data/local-files/?d=`` or a served folder), see docs/annotation.md.

Brush RLE (the thi.ng ``rle-pack`` bit stream Label Studio decodes): the mask as an RGBA
image (255 in all four channels inside the mask), flattened row-major; a header of 32 bits
(value count), 5 bits (word size - 1 = 7) and four 4-bit run-length field sizes minus one
(3, 4, 8, 16); then per run either ``1 ss <count-1> <byte>`` (a repeat, ``ss`` choosing
the smallest field that holds ``count - 1``) or ``0 00 000 <byte>`` (one literal byte);
zero bits pad the stream to whole bytes.
"""
from __future__ import annotations

import json
import os
from typing import Sequence
from xml.sax.saxutils import quoteattr

import numpy as np

from ovperception.annotation.formats.files import atomic_write_text
from ovperception.annotation.formats.registry import (ExportOptions, Reuse, register_format,
                                                      reused_part)
from ovperception.annotation.records import SCORE_DECIMALS, ImageRecord, ObjectAnnotation

RUN_FIELD_BITS = (3, 4, 8, 16)
WORD_BITS = 8
MODEL_VERSION = 'ovperception'


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, values) of the runs of equal values of a 1-D array."""
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, values.dtype)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    lengths = np.diff(np.r_[starts, values.size])
    return lengths, values[starts]


def _bits(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The bit stream of unsigned ``values`` written MSB-first in ``widths`` bits each."""
    field = np.repeat(np.arange(len(widths)), widths)
    offset = np.arange(field.size) - np.repeat(np.cumsum(widths) - widths, widths)
    return ((values[field] >> (widths[field] - 1 - offset)) & 1).astype(np.uint8)


def brush_rle(mask: np.ndarray) -> list[int]:
    """Label Studio's brush RLE of an (H, W) bool mask (see the module docstring)."""
    pixels = np.asarray(mask, bool).reshape(-1)
    lengths, values = _runs(pixels.astype(np.int64) * 255)
    lengths = lengths * 4  # the four equal RGBA bytes of each pixel continue a run
    limit = 1 << RUN_FIELD_BITS[-1]
    pieces = -(-lengths // limit)  # runs longer than the largest field are split
    run_of_chunk = np.repeat(np.arange(len(lengths)), pieces)
    first_of_run = np.r_[0, np.cumsum(pieces)[:-1]]
    position = np.arange(len(run_of_chunk)) - np.repeat(first_of_run, pieces)
    chunk = np.minimum(lengths[run_of_chunk] - position * limit, limit)
    count = chunk - 1
    field = (count >= 1 << RUN_FIELD_BITS[0]).astype(np.int64) + \
        (count >= 1 << RUN_FIELD_BITS[1]) + (count >= 1 << RUN_FIELD_BITS[2])
    # a chunk: repeat flag (1 bit; 0 = one literal), field index (2), count - 1, byte (8)
    body_values = np.stack([(chunk > 1).astype(np.int64), field, count,
                            values[run_of_chunk]], 1).reshape(-1)
    body_widths = np.stack([np.ones_like(field), np.full_like(field, 2),
                            np.asarray(RUN_FIELD_BITS)[field], np.full_like(field, WORD_BITS)],
                           1).reshape(-1)
    header_values = np.array([pixels.size * 4, WORD_BITS - 1] +
                             [b - 1 for b in RUN_FIELD_BITS], np.int64)
    header_widths = np.array([32, 5, 4, 4, 4, 4], np.int64)
    stream = _bits(np.r_[header_values, body_values], np.r_[header_widths, body_widths])
    return np.packbits(stream).tolist()  # zero bits pad the last byte


def _percent(value: float, extent: int) -> float:
    return round(100.0 * value / extent, 6)


def object_results(obj: ObjectAnnotation, index: int, record: ImageRecord,
                   class_names: Sequence[str]) -> list[dict]:
    """The rectangle (and brush) results of one object; ids ``r<index>`` / ``m<index>``."""
    name = str(class_names[obj.label])
    common = dict(from_name='label', to_name='image', original_width=record.width,
                  original_height=record.height, image_rotation=0)
    x1, y1, x2, y2 = obj.bbox
    rectangle = dict(common, id=f'r{index}', type='rectanglelabels', value=dict(
        x=_percent(x1, record.width), y=_percent(y1, record.height),
        width=_percent(x2 - x1, record.width), height=_percent(y2 - y1, record.height),
        rotation=0, rectanglelabels=[name]))
    results = [rectangle]
    if obj.has_mask:
        results.append(dict(common, id=f'm{index}', type='brushlabels', from_name='mask',
                            value=dict(format='rle', rle=brush_rle(obj.mask),
                                       brushlabels=[name])))
    for result in results:
        if obj.score is not None:
            result['score'] = float(obj.score)
    return results


def labelstudio_task(record: ImageRecord, objs: Sequence[ObjectAnnotation],
                     class_names: Sequence[str], options: ExportOptions | None = None) -> dict:
    """One task; ``data.image`` is the image's URL under ``options.image_root`` (else its
    absolute path)."""
    data = dict(image=(options or ExportOptions()).image_url(record.image_path),
                name=record.name, source=record.source)
    if record.frame_index is not None:
        data.update(frame_index=record.frame_index, timestamp=record.timestamp)
    scores = [o.score for o in objs if o.score is not None]
    result = [r for i, obj in enumerate(objs) for r in object_results(obj, i, record,
                                                                      class_names)]
    return dict(data=data, predictions=[dict(
        model_version=MODEL_VERSION,
        score=round(float(np.mean(scores)), SCORE_DECIMALS) if scores else None,
        result=result)])


def label_config(class_names: Sequence[str]) -> str:
    """A Label Studio labelling config with rectangle and brush labels of the vocabulary."""
    labels = ''.join(f'    <Label value={quoteattr(str(n))}/>\n' for n in class_names)
    return ('<View>\n  <Image name="image" value="$image"/>\n'
            f'  <RectangleLabels name="label" toName="image">\n{labels}  </RectangleLabels>\n'
            f'  <BrushLabels name="mask" toName="image">\n{labels}  </BrushLabels>\n</View>\n')


@register_format('labelstudio', 'Label Studio import JSON (rectangles + brush RLE masks)')
def write_labelstudio(records: Sequence[ImageRecord],
                      objects: Sequence[Sequence[ObjectAnnotation]],
                      class_names: Sequence[str], out_dir: str,
                      options: ExportOptions, reuse: Reuse | None = None) -> list[str]:
    # each task kept as its compact JSON text (what write_json would give it): a rerun
    # joins the stored texts instead of decoding and encoding every brush RLE again
    tasks = [reused_part(reuse, i, lambda i=i: json.dumps(
        labelstudio_task(records[i], objects[i], class_names, options), ensure_ascii=False,
        separators=(',', ':'))) for i in range(len(records))]
    paths = [os.path.join(out_dir, 'tasks.json'), os.path.join(out_dir, 'label_config.xml')]
    atomic_write_text(paths[0], '[' + ','.join(tasks) + ']\n')
    atomic_write_text(paths[1], label_config(class_names))
    return paths
