"""Lazy stitched dense maps: overlapping window outputs, averaged and resized on demand.

mmseg's sliding-window rule resizes every window's low-resolution output to the
window (bilinear, ``align_corners=False``), sums the windows and divides by how
many windows cover each pixel; the label map then resizes that (D, H, W) map to
the original image size. Both resizes are separable and the windows of
:func:`~ovperception.models.inference.sliding_windows` form a grid (every row
interval times every column interval), so the whole chain is

    out[d, y, x] = sum_ij L[y, i] * M[d, i, j] * R[x, j]

with ``M`` the (D, rows*h', cols*w') mosaic of window outputs, ``L`` (H_out,
rows*h') and ``R`` (W_out, cols*w') the per-axis resize-and-average weights
(PyTorch's own linear weights, divided by the per-row and per-column window
counts; their product is the per-pixel count because the windows form a grid).
:class:`StitchedWindows` contracts the columns once (a (rows*h', W_out, D) tensor,
kept whole when small, else made band by band as the output rows reach them) and then
produces output rows in chunks with one matrix product each (into one reused buffer),
restricted to the few mosaic rows a chunk touches. A per-pixel reduction (softmax,
argmax) runs on every chunk, so a (D, H, W) tensor never exists unless asked for
(:meth:`StitchedWindows.dense`). Values equal the resize-then-stitch path up to
float32 rounding (a different summation order: about 1e-7 relative).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Window = tuple[int, int, int, int]  # (y0, x0, y1, x1), end-exclusive
PixelFn = Callable[[Tensor], Tensor]
DEFAULT_CHUNK_ELEMENTS = 1 << 20  # ~4 MiB of float32 per output chunk: stays in cache
#: Values per band of a column stage (made band by band; rows are independent, so the band
#: size changes no value, only how much of the stage exists at once).
COLUMN_BAND_ELEMENTS = 1 << 19


def padding_offset(cells: int, stride: int | None, length: int, centred: bool) -> int:
    """First kept position of a window padded up to ``cells * stride`` positions.

    Bottom/right padding keeps the first ``length`` positions (offset 0); centred padding
    (ClearCLIP) puts ``(cells * stride - length) // 2`` padded positions before the window.
    Without a stride (the grid stretched over the window) the offset is 0.
    """
    if stride is None or not centred:
        return 0
    return (cells * stride - length) // 2


def linear_resize_matrix(n_in: int, n_out: int, stride: int | None = None, *,
                         centred: bool = False, dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> Tensor:
    """(n_out, n_in) weights of PyTorch's linear resize (``align_corners=False``).

    Row ``y`` holds the weights of output ``y`` over the inputs, exactly those that
    ``F.interpolate(..., mode='linear'|'bilinear')`` uses along one axis. With
    ``stride``, the input covers ``n_in * stride`` outputs of which ``n_out`` are kept:
    the first ones (a window padded bottom/right up to a multiple of the patch size), or
    the middle ones when ``centred`` (a window padded on both sides), see
    :func:`~ovperception.models.inference.resize_window_output`.
    """
    target = n_out if stride is None else n_in * stride
    if target < n_out:
        raise ValueError(f'{n_in} cells of stride {stride} cannot cover {n_out} pixels')
    eye = torch.eye(n_in, dtype=dtype, device=device)
    weights = F.interpolate(eye[None], size=target, mode='linear', align_corners=False)[0]
    offset = padding_offset(n_in, stride, n_out, centred)
    return weights[:, offset:offset + n_out].t().contiguous()


def _intervals(windows: Sequence[Window]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Sorted distinct row and column intervals of ``windows``; error if not a full grid."""
    rows = sorted({(y0, y1) for y0, _, y1, _ in windows})
    cols = sorted({(x0, x1) for _, x0, _, x1 in windows})
    grid = {(y0, x0, y1, x1) for y0, y1 in rows for x0, x1 in cols}
    if len(windows) != len(grid) or set(windows) != grid:
        raise ValueError('windows must be distinct and form a grid (every row interval with '
                         'every column interval), as sliding_windows() makes them')
    return rows, cols


def _placed_weights(intervals: Sequence[tuple[int, int]], cells: int, size: int,
                    stride: int | None, like: Tensor, centred: bool = False) -> Tensor:
    """(size, len(intervals) * cells) resize weights of every interval, averaged on overlaps."""
    weights = like.new_zeros((size, len(intervals) * cells))
    count = like.new_zeros((size, 1))
    for index, (start, stop) in enumerate(intervals):
        weights[start:stop, index * cells:(index + 1) * cells] = linear_resize_matrix(
            cells, stop - start, stride, centred=centred, dtype=like.dtype, device=like.device)
        count[start:stop] += 1
    if bool((count == 0).any()):
        raise ValueError('the windows do not cover the image')
    return weights / count


def _cell_means(length: int, stride: int, like: Tensor) -> Tensor:
    """(ceil(length / stride), length) weights averaging each run of ``stride`` positions
    (the last, possibly shorter run over its own positions, as ``avg_pool`` with
    ``ceil_mode=True``)."""
    if stride < 1:
        raise ValueError(f'stride must be positive, got {stride}')
    cell = torch.arange(length, device=like.device) // stride
    weights = F.one_hot(cell, -(-length // stride)).t().to(like.dtype)
    return weights / weights.sum(dim=1, keepdim=True)


class _RowsOut:
    """The (H, ...) result of :meth:`StitchedWindows.map_rows`, filled chunk by chunk into one
    tensor allocated at the first chunk (no list of pieces plus a concatenated copy)."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.result: Tensor | None = None

    def put(self, start: int, chunk: Tensor) -> None:
        if self.result is None:
            self.result = chunk.new_empty((self.height, *chunk.shape[1:]))
        self.result[start:start + chunk.shape[0]] = chunk


#: Column stages up to this many values (4 MiB) are kept whole (and reused by later calls);
#: larger ones (13 MB for 7 names on 3.8 MP, 0.4 GB on 108 MP) are made band by band as the
#: output rows reach them, each band once: the same values, with a peak that does not grow
#: with the image (kept whole, 3.5 bytes a pixel of a 3.8-MP prediction's peak).
COLUMN_CACHE_ELEMENTS = 1 << 20


class _ColumnBands:
    """Rows ``low:high`` of a map's column stage: the whole cached stage when it is small,
    else bands made on demand and dropped once the (increasing) output rows have passed them."""

    def __init__(self, stitched: 'StitchedWindows', out_width: int) -> None:
        depth, cells_h = stitched.outputs.shape[1], stitched.outputs.shape[-2]
        self.mosaic_h = len(stitched.rows) * cells_h
        self.whole = None
        if self.mosaic_h * out_width * depth <= COLUMN_CACHE_ELEMENTS:
            self.whole = stitched._column_stage(out_width)
            return
        self.stitched, self.out_width = stitched, out_width
        self.mosaic = stitched.mosaic()
        self.band = stitched.column_band_rows(out_width)
        self.bands: dict[int, Tensor] = {}

    def rows(self, low: int, high: int) -> Tensor:
        if self.whole is not None:
            return self.whole[low:high]
        first, last = low // self.band, (high - 1) // self.band
        for index in [i for i in self.bands if i < first]:
            del self.bands[index]  # the output rows only move down
        for index in range(first, last + 1):
            if index not in self.bands:
                start = index * self.band
                self.bands[index] = self.stitched._column_band(
                    self.mosaic[:, start:start + self.band], self.out_width)
        pieces = [self.bands[i][max(low - i * self.band, 0):high - i * self.band]
                  for i in range(first, last + 1)]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)  # a view, or these rows


class StitchedWindows:
    """The stitched (D, H, W) map of one image, kept as its window outputs.

    Args:
        outputs: (n, D, h', w') dense output of each window.
        windows: the n windows (y0, x0, y1, x1) in image pixels; they must form a grid.
        image_size: (H, W) of the image the windows cover.
        feature_stride: output stride of the windows' grid (patch size) or None, as in
            :func:`~ovperception.models.inference.resize_window_output`.
        centred_padding: the grid covers each window padded on both sides (ClearCLIP),
            not bottom/right.
    """

    def __init__(self, outputs: Tensor, windows: Sequence[Window], image_size: tuple[int, int],
                 feature_stride: int | None = None, centred_padding: bool = False) -> None:
        if outputs.dim() != 4 or outputs.shape[0] != len(windows):
            raise ValueError(f'outputs must be (n, D, h, w) with n = {len(windows)} windows, '
                             f'got {tuple(outputs.shape)}')
        self.outputs = outputs
        self.windows = list(windows)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.feature_stride = feature_stride
        self.centred_padding = bool(centred_padding)
        self.rows, self.cols = _intervals(self.windows)
        self._columns: dict[int, Tensor] = {}

    @classmethod
    def from_dense(cls, dense: Tensor) -> StitchedWindows:
        """Wrap an already stitched (D, H, W) map (one window covering it)."""
        height, width = dense.shape[-2:]
        return cls(dense[None], [(0, 0, height, width)], (height, width))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(D, H, W) of the stitched map."""
        return (self.outputs.shape[1], *self.image_size)

    def is_finite(self) -> bool:
        """Whether every value is finite (checked on the window outputs: cheap)."""
        return bool(torch.isfinite(self.outputs).all())

    def mosaic(self) -> Tensor:
        """(D, rows*h', cols*w') window outputs laid out by grid position."""
        num, depth, cells_h, cells_w = self.outputs.shape
        position = {window: index for index, window in enumerate(self.windows)}
        order = [position[(y0, x0, y1, x1)] for y0, y1 in self.rows for x0, x1 in self.cols]
        grid = self.outputs[order].view(len(self.rows), len(self.cols), depth, cells_h, cells_w)
        return grid.permute(2, 0, 3, 1, 4).reshape(
            depth, len(self.rows) * cells_h, len(self.cols) * cells_w)

    def _column_stage(self, out_width: int) -> Tensor:
        """(rows*h', out_width * D): columns stitched, averaged and resized; D innermost.

        Made a band of mosaic rows at a time straight into the result (each row is resized
        on its own, so bands give the same values): no (D, rows*h', W) temporaries, which
        are 0.4 GB each for 7 names on a 108-MP image.
        """
        if out_width in self._columns:
            return self._columns[out_width]
        self._columns = {}  # one width at a time: free the previous one first
        mosaic = self.mosaic()
        depth, mosaic_h, _ = mosaic.shape
        columns = mosaic.new_empty((mosaic_h, out_width * depth))
        band = self.column_band_rows(out_width)
        for start in range(0, mosaic_h, band):
            self._column_band(mosaic[:, start:start + band], out_width,
                              out=columns[start:start + band])
        self._columns = {out_width: columns}
        return columns

    def column_band_rows(self, out_width: int) -> int:
        """Mosaic rows per band of the column stage (about ``COLUMN_BAND_ELEMENTS`` values)."""
        depth = self.outputs.shape[1]
        return max(1, COLUMN_BAND_ELEMENTS // max(1, depth * max(self.image_size[1],
                                                                   out_width)))

    def _column_band(self, mosaic_rows: Tensor, out_width: int,
                     out: Tensor | None = None) -> Tensor:
        """(r, out_width * D) column stage of mosaic rows (D, r, cols*w'), written into
        ``out`` when given. At the image width the windows are stitched straight into the
        result: no (D, r, W) sum and channels-last copy beside it."""
        depth, count = mosaic_rows.shape[:2]
        if out_width == self.image_size[1]:
            if out is None:
                out = mosaic_rows.new_empty((count, out_width * depth))
            self._stitched_columns(mosaic_rows, out=out.view(count, out_width, depth)
                                   .permute(2, 0, 1))
            return out
        total = F.interpolate(self._stitched_columns(mosaic_rows), size=out_width,
                              mode='linear', align_corners=False)
        band = total.permute(1, 2, 0).reshape(count, out_width * depth)
        if out is None:
            return band
        out.copy_(band)
        return out

    def _stitched_columns(self, mosaic_rows: Tensor, out: Tensor | None = None) -> Tensor:
        """(D, r, W): mosaic rows (D, r, cols*w') with each column interval's cells resized
        to its window and the windows averaged where they overlap; written into ``out``
        (a (D, r, W) view, e.g. of the channels-last column stage) when given."""
        cells_w = self.outputs.shape[-1]
        width = self.image_size[1]
        if out is None:
            total = mosaic_rows.new_zeros((*mosaic_rows.shape[:2], width))
        else:
            total = out.zero_()
        count = mosaic_rows.new_zeros((width,))
        for index, (x0, x1) in enumerate(self.cols):
            block = mosaic_rows[..., index * cells_w:(index + 1) * cells_w]
            target = x1 - x0 if self.feature_stride is None else cells_w * self.feature_stride
            resized = F.interpolate(block, size=target, mode='linear', align_corners=False)
            offset = padding_offset(cells_w, self.feature_stride, x1 - x0, self.centred_padding)
            total[..., x0:x1] += resized[..., offset:offset + x1 - x0]
            count[x0:x1] += 1
        total /= count
        return total

    def _row_weights(self, out_height: int) -> Tensor:
        """(out_height, rows*h') row weights: resize to windows, average, resize to the output."""
        cells_h = self.outputs.shape[-2]
        weights = _placed_weights(self.rows, cells_h, self.image_size[0], self.feature_stride,
                                  self.outputs, self.centred_padding)
        if out_height != self.image_size[0]:
            weights = F.interpolate(weights.t()[None], size=out_height, mode='linear',
                                    align_corners=False)[0].t()
        return weights

    def map_rows(self, size: tuple[int, int] | None, pixel_fn: PixelFn | None = None, *,
                 max_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Tensor:
        """Apply ``pixel_fn`` to the map resized to ``size``, a chunk of rows at a time.

        Equals ``pixel_fn(F.interpolate(stitched[None], size, 'bilinear')[0].permute(1, 2, 0))``
        up to float rounding, without materialising the (D, H_out, W_out) map.

        Args:
            size: output (H_out, W_out); None keeps the image size.
            pixel_fn: (rows, W_out, D) channels-last chunk -> (rows, W_out, ...) per-pixel
                result (None: the values themselves).
            max_elements: budget of rows * W_out * D values per chunk.

        Returns:
            (H_out, W_out, ...) concatenation of the chunk results.
        """
        out_h, out_w = self.image_size if size is None else (int(size[0]), int(size[1]))
        depth = self.outputs.shape[1]
        if self.is_plain_dense and (out_h, out_w) == self.image_size:
            # A wrapped dense map at its own size: no stitching or resize, just chunk it.
            rows_per_chunk = max(1, max_elements // max(1, out_w * depth))
            out = _RowsOut(out_h)
            for start in range(0, out_h, rows_per_chunk):
                chunk = self.outputs[0, :, start:start + rows_per_chunk].permute(1, 2, 0)
                chunk = chunk.contiguous()
                out.put(start, chunk if pixel_fn is None else pixel_fn(chunk))
            return out.result
        columns = _ColumnBands(self, out_w)
        rows = self._row_weights(out_h)
        # The mosaic rows each output row reads (a band: its windows' rows), fetched once.
        nonzero = (rows != 0).float()
        first = nonzero.argmax(dim=1).tolist()
        last = (rows.shape[1] - nonzero.flip(1).argmax(dim=1)).tolist()
        del nonzero  # (H_out, rows*h') floats: not kept through the loop
        rows_per_chunk = min(out_h, max(1, max_elements // max(1, out_w * depth)))
        # One chunk buffer for every product (the results are copied out at once): no
        # chunk-sized allocation per step for the allocator to scatter over the heap.
        buffer = rows.new_empty((rows_per_chunk, out_w * depth))
        out = _RowsOut(out_h)
        for start in range(0, out_h, rows_per_chunk):
            stop = min(out_h, start + rows_per_chunk)
            low, high = min(first[start:stop]), max(last[start:stop])
            chunk = torch.matmul(rows[start:stop, low:high], columns.rows(low, high),
                                 out=buffer[:stop - start])
            chunk = chunk.view(stop - start, out_w, depth)
            out.put(start, chunk if pixel_fn is None else pixel_fn(chunk))
        return out.result

    def _grid_axis(self, intervals: Sequence[tuple[int, int]], cells: int, length: int,
                   stride: int) -> Tensor:
        """(n, len(intervals) * cells) weights of one axis of :meth:`on_grid`."""
        num = -(-length // stride)
        weights = self.outputs.new_zeros((num, len(intervals) * cells))
        for cell in range(num):
            centre = min(stride * cell + stride / 2, length - 0.5)
            for index, (begin, end) in enumerate(intervals):
                if not begin <= centre < end:
                    continue
                pitch = self.feature_stride or (end - begin) / cells
                offset = padding_offset(cells, self.feature_stride, end - begin,
                                        self.centred_padding)
                position = min(max((centre - begin + offset) / pitch - 0.5, 0.0), cells - 1.0)
                low = int(position)
                high, frac = min(low + 1, cells - 1), position - low
                weights[cell, index * cells + low] += 1.0 - frac
                weights[cell, index * cells + high] += frac
        return weights / weights.sum(dim=1, keepdim=True)

    def on_grid(self, stride: int) -> Tensor:
        """(D, ceil(H / stride), ceil(W / stride)) splice of the windows on a token grid.

        Every grid cell takes, from each window covering its centre, the window's output at
        that centre (linear in each axis, as :func:`resize_window_output` places it), and
        averages over those windows. Windows whose offsets are multiples of ``stride``
        (= ``feature_stride``) thus contribute their own tokens unchanged: the token-level
        splice of the windows' outputs, without a (D, H, W) map.
        """
        _, _, cells_h, cells_w = self.outputs.shape
        rows = self._grid_axis(self.rows, cells_h, self.image_size[0], int(stride))
        cols = self._grid_axis(self.cols, cells_w, self.image_size[1], int(stride))
        return torch.einsum('yi,dij,xj->dyx', rows, self.mosaic(), cols)
    @property
    def is_plain_dense(self) -> bool:
        """Whether this wraps one (D, H, W) map at the image size (see :meth:`from_dense`)."""
        return (len(self.windows) == 1 and self.feature_stride is None
                and self.windows[0] == (0, 0, *self.image_size)
                and tuple(self.outputs.shape[-2:]) == self.image_size)

    def avg_pooled(self, stride: int) -> Tensor:
        """(D, ceil(H / stride), ceil(W / stride)) mean of the stitched map over stride cells.

        Equals ``F.avg_pool2d(self.dense()[None], stride, stride, ceil_mode=True)[0]`` (a
        partial cell at the bottom / right border is the mean of its pixels) up to float
        rounding, without the (D, H, W) map: averaging over cells is separable too, so the
        result is ``(P_h L) · mosaic · (P_w R)ᵀ`` with the per-axis cell-averaging matrices
        ``P`` applied to the small resize-and-average weights ``L`` and ``R``.
        """
        _, _, cells_h, cells_w = self.outputs.shape
        height, width = self.image_size
        rows = _cell_means(height, int(stride), self.outputs) @ _placed_weights(
            self.rows, cells_h, height, self.feature_stride, self.outputs, self.centred_padding)
        cols = _cell_means(width, int(stride), self.outputs) @ _placed_weights(
            self.cols, cells_w, width, self.feature_stride, self.outputs, self.centred_padding)
        return torch.einsum('yi,dij,xj->dyx', rows, self.mosaic(), cols)

    def dense(self) -> Tensor:
        """The stitched (D, H, W) map at the image size (materialised; for a wrapped dense
        map, that map itself)."""
        if self.is_plain_dense:
            return self.outputs[0]
        return self.map_rows(None).permute(2, 0, 1).contiguous()


DenseOutput = Tensor | StitchedWindows


def as_stitched(output: DenseOutput) -> StitchedWindows:
    """A :class:`StitchedWindows` view of a dense (D, H, W) tensor (or the object itself)."""
    return output if isinstance(output, StitchedWindows) else StitchedWindows.from_dense(output)
