"""Label Studio import JSON: ``tasks.json`` (one task per image, with the model's
predictions) and ``label_config.xml`` (the labelling interface these results fit).

Each task is ``{"data": {"image": <absolute image path>, "name", "frame_index",
"timestamp"}, "predictions": [{"model_version", "score", "result": [...]}]}``; each
object gives a ``rectanglelabels`` result (x, y, width, height in percent of the image)
and, with a mask, a ``brushlabels`` result whose ``rle`` is Label Studio's brush encoding
(below) -- exact, holes kept. Serve the images to Label Studio (e.g. local-file storage)
and rewrite ``data.image`` if its URLs differ from the local paths.

Brush RLE (the thi.ng ``rle-pack`` bit stream Label Studio decodes): the mask as an RGBA
image (255 in all four channels inside the mask), flattened row-major; a header of 32 bits
(value count), 5 bits (word size - 1 = 7) and four 4-bit run-length field sizes minus one
(3, 4, 8, 16); then per run either ``1 ss <count-1> <byte>`` (a repeat, ``ss`` choosing
the smallest field that holds ``count - 1``) or ``0 00 000 <byte>`` (one literal byte);
zero bits pad the stream to whole bytes.
"""
from __future__ import annotations

import os
from typing import Sequence
from xml.sax.saxutils import quoteattr

import numpy as np

from ovperception.annotation.formats.files import atomic_write_text
from ovperception.annotation.formats.registry import register_format
from ovperception.annotation.records import ImageRecord, ObjectAnnotation
from ovperception.utils.atomic import atomic_write_json

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


def brush_rle(mask: np.ndarray) -> list[int]:
    """Label Studio's brush RLE of an (H, W) bool mask (see the module docstring)."""
    flat = np.repeat(np.asarray(mask, bool).reshape(-1).astype(np.uint8) * 255, 4)
    bits = [f'{flat.size:032b}', f'{WORD_BITS - 1:05b}'] + [f'{b - 1:04b}' for b in
                                                           RUN_FIELD_BITS]
    limit = 1 << RUN_FIELD_BITS[-1]
    for length, value in zip(*_runs(flat)):
        byte = f'{int(value):08b}'
        length = int(length)
        if length == 1:
            bits.append('0' + '00' + '000' + byte)
            continue
        while length > 0:
            chunk = min(length, limit)
            length -= chunk
            if chunk == 1:
                bits.append('0' + '00' + '000' + byte)
                continue
            field = next(i for i, b in enumerate(RUN_FIELD_BITS) if chunk - 1 < (1 << b))
            bits.append('1' + f'{field:02b}' + format(chunk - 1, f'0{RUN_FIELD_BITS[field]}b')
                        + byte)
    stream = ''.join(bits)
    stream += '0' * (-len(stream) % 8)
    return [int(stream[i:i + 8], 2) for i in range(0, len(stream), 8)]


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
    if obj.mask is not None:
        results.append(dict(common, id=f'm{index}', type='brushlabels', from_name='mask',
                            value=dict(format='rle', rle=brush_rle(obj.mask),
                                       brushlabels=[name])))
    for result in results:
        if obj.score is not None:
            result['score'] = float(obj.score)
    return results


def labelstudio_task(record: ImageRecord, objs: Sequence[ObjectAnnotation],
                     class_names: Sequence[str]) -> dict:
    data = dict(image=record.image_path, name=record.name, source=record.source)
    if record.frame_index is not None:
        data.update(frame_index=record.frame_index, timestamp=record.timestamp)
    scores = [o.score for o in objs if o.score is not None]
    result = [r for i, obj in enumerate(objs) for r in object_results(obj, i, record,
                                                                      class_names)]
    return dict(data=data, predictions=[dict(
        model_version=MODEL_VERSION, score=float(np.mean(scores)) if scores else None,
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
                      class_names: Sequence[str], out_dir: str) -> list[str]:
    tasks = [labelstudio_task(r, o, class_names) for r, o in zip(records, objects)]
    paths = [os.path.join(out_dir, 'tasks.json'), os.path.join(out_dir, 'label_config.xml')]
    atomic_write_json(paths[0], tasks, indent=None)
    atomic_write_text(paths[1], label_config(class_names))
    return paths
