"""Results into a ROS 2 bag (MCAP, ``--output results.mcap``), readable by ``ros2 bag`` and Foxglove.

Per processed frame, stamped with the source frame's header stamp and logged at its log time (so the
results line up with the recording they came from):

==========================  ====================================  ==============================================
topic                       type                                  content
==========================  ====================================  ==============================================
``/trt_panoptic/overlay``   ``sensor_msgs/msg/CompressedImage``   the rendered overlay, JPEG
``/trt_panoptic/panoptic``  ``sensor_msgs/msg/Image``             the id map: ``16UC1`` when ids fit, else ``32SC1``
``/trt_panoptic/segments``  ``trt_panoptic_msgs/msg/Segments``    the segment table
``/trt_panoptic/stats``     ``trt_panoptic_msgs/msg/FrameStats``  what each stage took
==========================  ====================================  ==============================================

and ``/trt_panoptic/categories`` (``trt_panoptic_msgs/msg/Categories``) once, with the first frame. With
``passthrough`` every message of the input bag is copied too (raw, with its own schema and channel), so the
result replays alongside the original sensors. The file is written under a temporary name and renamed on
:meth:`BagSink.close`.

Several streams write one bag through :meth:`BagSink.for_streams`: each stream's topics sit under its own
namespace, ``/<stream name>/trt_panoptic/overlay`` and so on, and the file is finished when the last
stream's sink closes.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterator

from trt_panoptic.atomic_io import check_writable_dir
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.ros2 import bags, images, messages
from trt_panoptic.video.segment_table import categories, segment_rows
from trt_panoptic.video.sinks import FrameSink, StreamInfo
from trt_panoptic.video.sources import FrameStamp

TOPIC_PREFIX = "/trt_panoptic"
OVERLAY, PANOPTIC, SEGMENTS, STATS, CATEGORIES = (f"{TOPIC_PREFIX}/{t}" for t in
                                                  ("overlay", "panoptic", "segments", "stats", "categories"))
LIBRARY = "trt_panoptic"


class _BagFile:
    """The ``.mcap`` one or more :class:`BagSink` write into: opened with the first frame, finished (or, with no
    frame, dropped) when the last of its ``users`` closes. Its lock serializes the writes of several streams."""

    def __init__(self, path: Path, users: int) -> None:
        self.path = path
        self.users = users
        self.lock = threading.RLock()
        self.writer: bags.BagWriter | None = None
        self.frames = 0

    def open(self) -> bags.BagWriter:
        if self.writer is None:
            self.writer = bags.BagWriter(self.path, LIBRARY)
        return self.writer

    def release(self, finish_first=None) -> None:
        """One user is done; the last one finishes the file (after ``finish_first()``, e.g. the passthrough copy)."""
        self.users -= 1
        if self.users > 0 or self.writer is None:
            return
        writer = self.writer
        try:
            if self.frames and finish_first is not None:
                finish_first()
            writer.finish(keep=self.frames > 0)
        except BaseException:
            writer.abandon()
            raise


def check_bag_output(path: Path) -> None:
    """One-line errors for a result bag path that is not a writable ``.mcap`` file (before the model loads)."""
    from trt_panoptic.ros2.extra import import_robotics

    import_robotics("mcap.writer")  # a missing extra fails before the model loads
    import_robotics("mcap_ros2")
    if path.suffix.lower() != bags.BAG_SUFFIX:
        raise TrtPanopticError(f"bag output should end in .mcap, got '{path}' — rename it")
    if path.is_dir():
        raise TrtPanopticError(f"bag output should be a file, got the folder '{path}' — add a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise TrtPanopticError(f"bag output should be writable, got '{path}' (read-only) — choose another path")
    check_writable_dir(path.parent, "bag output")


class BagSink(FrameSink):
    """Writes every processed frame's results into a ``.mcap`` bag.

    Args:
        path: the result bag, ending in ``.mcap``.
        passthrough: the input bag's ``.mcap`` files, to copy every message of (``--passthrough``), or None.
        jpeg_quality: quality of the overlay JPEGs (0-100).
        topic_prefix: the namespace of the result topics (``/trt_panoptic``).
    """

    def __init__(self, path: str | os.PathLike, *, passthrough: list[Path] | None = None, jpeg_quality: int = 90,
                 topic_prefix: str = TOPIC_PREFIX, _file: _BagFile | None = None) -> None:
        self.path = Path(path)
        self.description = str(path)
        if _file is None:
            check_bag_output(self.path)
            _file = _BagFile(self.path, users=1)
        self._file = _file
        self._prefix = topic_prefix.rstrip("/")
        self._passthrough_files = list(passthrough or [])
        self._jpeg_quality = jpeg_quality
        self._channels: dict[str, tuple[int, Any]] = {}
        self._copy: Iterator[tuple[Any, Any, Any]] | None = None
        self._held: tuple[Any, Any, Any] | None = None  # the next input message to copy, read ahead
        self._closed = False
        self.frames = 0
        self.copied = 0

    @classmethod
    def for_streams(cls, path: str | os.PathLike, names: list[str], *, jpeg_quality: int = 90) -> list[BagSink]:
        """One sink per stream, all writing ``path``: stream ``name``'s topics under ``/<name>/trt_panoptic``.
        Names should be valid ROS 2 name tokens (letters, digits, underscores; not starting with a digit)."""
        target = Path(path)
        check_bag_output(target)
        shared = _BagFile(target, users=len(names))
        return [cls(target, jpeg_quality=jpeg_quality, topic_prefix=f"/{name}{TOPIC_PREFIX}", _file=shared)
                for name in names]

    @property
    def bag_frames(self) -> int:
        """Frames written to the file by every stream sharing it (this sink's own: :attr:`frames`)."""
        return self._file.frames

    def topic(self, name: str) -> str:
        """The full topic of result ``name`` (``overlay``, ``panoptic``, ``segments``, ``stats``, ``categories``)."""
        return f"{self._prefix}/{name}"

    # -- writing -------------------------------------------------------------------------------------
    def _open(self) -> None:
        writer = self._file.open()
        for topic, kind in ((OVERLAY, messages.COMPRESSED_IMAGE), (PANOPTIC, messages.IMAGE),
                            (SEGMENTS, messages.SEGMENTS), (STATS, messages.FRAME_STATS),
                            (CATEGORIES, messages.CATEGORIES)):
            name = topic.rsplit("/", 1)[1]
            self._channels[topic] = (writer.ros2_channel(self.topic(name), kind), messages.encoder(kind))
        if self._passthrough_files:
            self._copy = bags.iter_raw(self._passthrough_files)

    def _put(self, topic: str, message: dict, log_time_ns: int) -> None:
        channel, encode = self._channels[topic]
        self._file.writer.add(channel, encode(message), log_time_ns)

    def _copy_until(self, log_time_ns: int | None) -> None:
        """Copy input messages logged at or before ``log_time_ns`` (all of them for None)."""
        if self._copy is None:
            return
        writer = self._file.writer
        while True:
            if self._held is None:
                self._held = next(self._copy, None)
                if self._held is None:
                    self._copy = None
                    return
            schema, channel, message = self._held
            if log_time_ns is not None and message.log_time > log_time_ns:
                return
            schema_id = (writer.schema_id(schema.name, schema.encoding, bytes(schema.data))
                         if schema is not None else 0)
            channel_id = writer.channel_id(channel.topic, schema_id, channel.message_encoding, channel.metadata)
            writer.add(channel_id, bytes(message.data), message.log_time, message.publish_time)
            self.copied += 1
            self._held = None

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        info: StreamInfo = getattr(self, "info", StreamInfo(30.0))
        stamp = stamp or FrameStamp.from_position(index, info.fps)
        header = messages.stamp_fields(stamp.stamp_ns, stamp.frame_id)
        # encode outside the lock: several streams may share the file
        overlay = images.bgr_to_compressed(rendered, "jpeg", self._jpeg_quality)
        id_map = images.id_map_to_raw(result.panoptic)
        rows = [vars(r) for r in segment_rows(result, info)]
        ms = {"decode_ms": 0.0, "queue_ms": 0.0, "infer_ms": 0.0, "render_ms": 0.0, "latency_ms": 0.0}
        if timing is not None:
            ms = {"decode_ms": timing.decode_s * 1e3, "queue_ms": timing.queue_s * 1e3, "infer_ms": timing.infer_s * 1e3,
                  "render_ms": timing.render_s * 1e3, "latency_ms": timing.since_capture_s * 1e3}
        log_time = stamp.log_time_ns
        with self._file.lock:
            if not self._channels:
                self._open()
            self._copy_until(log_time)
            if self.frames == 0:
                self._put(CATEGORIES, {"header": header, "categories": [vars(c) for c in categories(info)]}, log_time)
            self._put(OVERLAY, {"header": header, **overlay}, log_time)
            self._put(PANOPTIC, {"header": header, **id_map}, log_time)
            self._put(SEGMENTS, {"header": header, "segments": rows}, log_time)
            self._put(STATS, {"header": header, "frame_index": index, "backend": info.backend, **ms}, log_time)
            self.frames += 1
            self._file.frames += 1

    def close(self) -> None:
        """Copy the rest of the input (``passthrough``), write the summary and rename the bag into place (the
        last stream sharing the file does). A bag no stream wrote a frame to leaves no file."""
        with self._file.lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._file.release(finish_first=lambda: self._copy_until(None))
            finally:
                if self._copy is not None:
                    self._copy.close()
                    self._copy = None
