"""A live Foxglove view (``--output foxglove[:PORT]``): a Foxglove WebSocket server publishing each frame.

Channels (Foxglove's own schemas, protobuf, for the images and annotations; JSON with a JSON schema for the
tables):

- ``/trt_panoptic/image`` — the camera frame (``foxglove.CompressedImage``, JPEG)
- ``/trt_panoptic/overlay`` — the rendered overlay (``foxglove.CompressedImage``, JPEG)
- ``/trt_panoptic/annotations`` — every segment's outline and each thing's label (``foxglove.ImageAnnotations``),
  to draw over ``/trt_panoptic/image`` in an Image panel
- ``/trt_panoptic/segments`` — the segment table (``trt_panoptic.Segments``, JSON)
- ``/trt_panoptic/stats`` — per-frame timings (``trt_panoptic.FrameStats``, JSON)

Messages carry the frame's stamp; a channel nobody subscribes to costs nothing (nothing is encoded for it).
Several streams share one server through :meth:`FoxgloveSink.for_streams`, each stream's channels under its
own namespace (``/<stream name>/trt_panoptic/image`` …).
Open Foxglove → Open connection → Foxglove WebSocket → ``ws://localhost:8765``, and load the layout
``docs/foxglove_layout.json``.
"""
from __future__ import annotations

import json
import logging
import re
import time

import numpy as np

from trt_panoptic.data.frames import cv2_module
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.ros2.extra import import_robotics
from trt_panoptic.video.segment_table import SEGMENTS_JSON_SCHEMA, STATS_JSON_SCHEMA, SegmentRow, segment_rows
from trt_panoptic.video.sinks import FrameSink, StreamInfo
from trt_panoptic.video.sources import FrameStamp

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"
TOPIC_PREFIX = "/trt_panoptic"
IMAGE, OVERLAY, ANNOTATIONS, SEGMENTS, STATS = (f"{TOPIC_PREFIX}/{t}" for t in
                                                ("image", "overlay", "annotations", "segments", "stats"))
_SPEC = re.compile(r"^foxglove(?::(?:(?P<host>[^:]+):)?(?P<port>\d+))?$", re.IGNORECASE)


def parse_foxglove_spec(spec: str) -> tuple[str, int] | None:
    """``foxglove``, ``foxglove:PORT`` or ``foxglove:HOST:PORT`` → (host, port); None for other outputs.

    The default host is loopback (this machine only): serving other machines (``foxglove:0.0.0.0:8765``)
    is the user's explicit choice. Port 0 picks a free port.
    """
    if not (spec.lower() == "foxglove" or spec.lower().startswith("foxglove:")):
        return None
    match = _SPEC.match(spec.strip())
    if not match or not 0 <= int(match.group("port") or DEFAULT_PORT) <= 65535:
        raise TrtPanopticError(f"foxglove output should be foxglove, foxglove:PORT or foxglove:HOST:PORT, got '{spec}' — "
                               f"e.g. foxglove:{DEFAULT_PORT}")
    return match.group("host") or DEFAULT_HOST, int(match.group("port") or DEFAULT_PORT)


def _color(isthing: bool, category_id: int, fg) -> object:
    # fixed colours per category so an object keeps its colour from frame to frame
    rng = np.random.default_rng(category_id * 2 + int(isthing))
    r, g, b = (rng.integers(64, 256, 3) / 255.0).tolist()
    return fg.Color(r=r, g=g, b=b, a=1.0)


class _Server:
    """A Foxglove WebSocket server one or more :class:`FoxgloveSink` publish on; the last user to close stops it."""

    def __init__(self, host: str, port: int, users: int) -> None:
        fg = import_robotics("foxglove")
        self.context = fg.Context()
        try:
            self.server = fg.start_server(name="trt-panoptic", host=host, port=port, context=self.context)
        except RuntimeError as exc:
            raise TrtPanopticError(f"foxglove output should get a free port, got {host}:{port} ({exc}) — "
                                   f"pass another one, e.g. --output foxglove:{port + 1 if port else DEFAULT_PORT + 1}") from None
        self.host, self.port = host, self.server.port
        self.users = users
        logger.info("foxglove: serving ws://%s:%d — in Foxglove: Open connection → Foxglove WebSocket",
                    "localhost" if host == DEFAULT_HOST else host, self.port)

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.server.stop()


class FoxgloveSink(FrameSink):
    """Serves the results on a Foxglove WebSocket; the server starts here, so a busy port fails before the model loads.

    Args:
        host: address to listen on (loopback by default).
        port: TCP port (0 = any free one; :attr:`port` tells which).
        jpeg_quality: quality of the published JPEGs.
        topic_prefix: the namespace of the channels (``/trt_panoptic``).
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, jpeg_quality: int = 80,
                 topic_prefix: str = TOPIC_PREFIX, _server: _Server | None = None) -> None:
        fg = import_robotics("foxglove")
        self._fg = fg
        self._channels_mod = import_robotics("foxglove.channels")
        self._messages = import_robotics("foxglove.messages")
        self._shared = _server or _Server(host, port, users=1)
        self._context = self._shared.context
        self._server = self._shared.server
        self.host, self.port = self._shared.host, self._shared.port
        self.description = f"foxglove ws://{'localhost' if self.host == DEFAULT_HOST else self.host}:{self.port}"
        ch = self._channels_mod
        prefix = topic_prefix.rstrip("/")
        self._image = ch.CompressedImageChannel(f"{prefix}/image", context=self._context)
        self._overlay = ch.CompressedImageChannel(f"{prefix}/overlay", context=self._context)
        self._annotations = ch.ImageAnnotationsChannel(f"{prefix}/annotations", context=self._context)
        self._segments = fg.Channel(f"{prefix}/segments", context=self._context, message_encoding="json", schema=fg.Schema(
            name="trt_panoptic.Segments", encoding="jsonschema", data=json.dumps(SEGMENTS_JSON_SCHEMA).encode()))
        self._stats = fg.Channel(f"{prefix}/stats", context=self._context, message_encoding="json", schema=fg.Schema(
            name="trt_panoptic.FrameStats", encoding="jsonschema", data=json.dumps(STATS_JSON_SCHEMA).encode()))
        self._quality = jpeg_quality
        self.frames = 0

    @classmethod
    def for_streams(cls, host: str, port: int, names: list[str], *, jpeg_quality: int = 80) -> list[FoxgloveSink]:
        """One sink per stream on one server: stream ``name``'s channels under ``/<name>/trt_panoptic``."""
        server = _Server(host, port, users=len(names))
        return [cls(host, port, jpeg_quality=jpeg_quality, topic_prefix=f"/{name}{TOPIC_PREFIX}", _server=server)
                for name in names]

    @property
    def topics(self) -> list[str]:
        """The channels this sink publishes."""
        return [c.topic() for c in (self._image, self._overlay, self._annotations, self._segments, self._stats)]

    def _jpeg(self, image: np.ndarray, stamp, frame_id: str):
        cv2 = cv2_module()
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        assert ok, "video.foxglove_sink: OpenCV failed to encode a BGR uint8 frame"
        return self._messages.CompressedImage(timestamp=stamp, frame_id=frame_id, data=buf.tobytes(), format="jpeg")

    def _outlines(self, panoptic: np.ndarray, rows: list[SegmentRow], stamp) -> object:
        """Each segment's outer contours as closed polylines, and each thing's label at its box's corner."""
        cv2 = cv2_module()
        m = self._messages
        points, texts = [], []
        for row in rows:
            if row.x1 <= row.x0 or row.y1 <= row.y0:
                continue
            window = (panoptic[row.y0:row.y1, row.x0:row.x1] == row.id).astype(np.uint8)
            contours, _ = cv2.findContours(window, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            color = _color(row.isthing, row.category_id, m)
            for contour in contours:
                if len(contour) < 3:
                    continue
                pts = [m.Point2(x=float(x + row.x0), y=float(y + row.y0)) for x, y in contour[:, 0, :]]
                points.append(m.PointsAnnotation(timestamp=stamp, type=m.PointsAnnotationType.LineLoop, points=pts,
                                                 outline_color=color, thickness=2.0))
            if row.isthing:
                label = f"{row.category_name} {row.score:.2f}"
                texts.append(m.TextAnnotation(timestamp=stamp, position=m.Point2(x=float(row.x0), y=float(row.y0)),
                                              text=label, font_size=12.0, text_color=color,
                                              background_color=m.Color(r=0.0, g=0.0, b=0.0, a=0.6)))
        return m.ImageAnnotations(points=points, texts=texts)

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        info: StreamInfo = getattr(self, "info", StreamInfo(30.0))
        stamp = stamp or FrameStamp.at(time.time_ns())
        sec, nsec = divmod(stamp.stamp_ns, 1_000_000_000)
        ts = self._messages.Timestamp(sec, nsec)
        frame_id = stamp.frame_id or "camera"
        now = time.time_ns()  # a live view logs at the time it shows a frame; messages keep the frame's stamp
        if self._image.has_sinks():
            self._image.log(self._jpeg(image, ts, frame_id), log_time=now)
        if self._overlay.has_sinks():
            self._overlay.log(self._jpeg(rendered, ts, frame_id), log_time=now)
        rows: list[SegmentRow] | None = None
        if self._annotations.has_sinks():
            rows = segment_rows(result, info)
            self._annotations.log(self._outlines(result.panoptic, rows, ts), log_time=now)
        if self._segments.has_sinks():
            rows = rows if rows is not None else segment_rows(result, info)
            self._segments.log({"timestamp": {"sec": sec, "nsec": nsec}, "frame_id": frame_id,
                                "segments": [r.to_json() for r in rows]}, log_time=now)
        if self._stats.has_sinks():
            ms = {}
            if timing is not None:
                ms = {"decode_ms": timing.decode_s * 1e3, "queue_ms": timing.queue_s * 1e3,
                      "infer_ms": timing.infer_s * 1e3, "render_ms": timing.render_s * 1e3,
                      "latency_ms": timing.since_capture_s * 1e3}
            self._stats.log({"timestamp": {"sec": sec, "nsec": nsec}, "frame_index": index, "backend": info.backend,
                             **ms}, log_time=now)
        self.frames += 1

    def close(self) -> None:
        """Stop the server (connected clients see it go); safe to call more than once."""
        if self._server is not None:
            for channel in (self._image, self._overlay, self._annotations, self._segments, self._stats):
                channel.close()
            self._shared.release()
            self._server = None
