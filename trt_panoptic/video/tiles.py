"""Several streams in one view: a :class:`Mosaic` lays each stream's rendered frames out in a grid and hands the
whole grid to one sink (``--output window`` with several sources)."""
from __future__ import annotations

import math
import threading

import numpy as np

from trt_panoptic.data.frames import cv2_module
from trt_panoptic.video.sinks import FrameSink, StreamInfo

#: the longest side of one tile, in pixels: 4 HD streams still fit a desktop screen
MAX_TILE_SIDE = 640


def grid(count: int) -> tuple[int, int]:
    """(rows, columns) of the most square grid with ``count`` cells, wider than tall."""
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


class Mosaic:
    """A grid of ``count`` tiles shown through ``sink`` (e.g. a :class:`~trt_panoptic.video.sinks.WindowSink`).

    :meth:`tile` gives stream i its own :class:`FrameSink`; each write redraws that stream's cell and passes the
    whole grid on. Cells take the first frame's aspect ratio, at most :data:`MAX_TILE_SIDE` pixels a side;
    frames of another shape are scaled into their cell. Empty cells stay black.
    """

    def __init__(self, sink: FrameSink, count: int) -> None:
        assert count >= 1, "video.tiles: need at least one tile"
        self.sink = sink
        self.count = count
        self.rows, self.cols = grid(count)
        self._canvas: np.ndarray | None = None
        self._cell: tuple[int, int] = (0, 0)  # height, width
        self._lock = threading.Lock()
        self._started = False
        self._frames = 0

    @property
    def description(self) -> str:
        return self.sink.description

    def tile(self, index: int) -> FrameSink:
        """The sink stream ``index`` (0-based, row by row) writes to."""
        assert 0 <= index < self.count, "video.tiles: tile index out of range"
        return _Tile(self, index)

    def _place(self, index: int, frame: np.ndarray) -> np.ndarray:
        cv2 = cv2_module()
        if self._canvas is None:
            h, w = frame.shape[:2]
            scale = min(1.0, MAX_TILE_SIDE / max(h, w))
            self._cell = (max(1, round(h * scale)), max(1, round(w * scale)))
            self._canvas = np.zeros((self._cell[0] * self.rows, self._cell[1] * self.cols, 3), np.uint8)
        ch, cw = self._cell
        if frame.shape[:2] != (ch, cw):
            frame = cv2.resize(frame, (cw, ch), interpolation=cv2.INTER_AREA)
        r, c = divmod(index, self.cols)
        self._canvas[r * ch:(r + 1) * ch, c * cw:(c + 1) * cw] = frame
        return self._canvas.copy()

    def _start(self, info: StreamInfo) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self.sink.start(info)

    def _write(self, index: int, name, image, rendered, result, **kwargs) -> None:
        with self._lock:  # streams render on their own threads; the grid and the sink see one write at a time
            canvas = self._place(index, rendered)
            self.sink.write(self._frames, name, canvas, canvas, result, **kwargs)
            self._frames += 1

    def pump(self) -> None:
        self.sink.pump()

    @property
    def needs_pump(self) -> bool:
        return self.sink.needs_pump

    @property
    def wants_stop(self) -> bool:
        return self.sink.wants_stop

    def close(self) -> None:
        self.sink.close()


class _Tile(FrameSink):
    """Stream ``index``'s view of a :class:`Mosaic`. The mosaic's owner pumps and closes the shared sink, so a
    tile needs no pump and closing it does nothing."""

    def __init__(self, mosaic: Mosaic, index: int) -> None:
        self._mosaic = mosaic
        self._index = index
        self.description = mosaic.description

    def start(self, info: StreamInfo) -> None:
        self.info = info
        self._mosaic._start(info)

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        self._mosaic._write(self._index, name, image, rendered, result, timestamp=timestamp,
                            source_file=source_file, stamp=stamp, timing=timing)

    @property
    def wants_stop(self) -> bool:
        return self._mosaic.wants_stop
