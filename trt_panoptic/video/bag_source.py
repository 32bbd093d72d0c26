"""Camera frames from a ROS 2 bag (MCAP): ``sensor_msgs/msg/Image`` or ``CompressedImage`` on one topic.

The topic is the one ``--topic`` names, else the bag's only image topic; several image topics (or none)
are a one-line error listing them with their message counts and types. Frames keep the message's header
stamp and log time (:class:`~trt_panoptic.video.sources.FrameStamp`). A bag is a file: every frame is
processed in order unless ``pace`` (``--realtime``) replays it at the recorded speed, as a live camera.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

from trt_panoptic.data.frames import DEFAULT_MAX_PIXELS
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.ros2 import bags, images, messages
from trt_panoptic.ros2.extra import import_robotics
from trt_panoptic.video.sources import FrameSource, FrameStamp, Read, ReadStatus

logger = logging.getLogger(__name__)


def _describe(infos: list[bags.TopicInfo]) -> str:
    return ", ".join(f"{t.topic} ({t.count} × {t.schema})" for t in infos)


def choose_image_topic(infos: list[bags.TopicInfo], topic: str | None, bag: str) -> bags.TopicInfo:
    """The image topic to read: ``topic`` if given, else the only one; a one-line error otherwise."""
    image_topics = [t for t in infos if t.schema in messages.IMAGE_TYPES]
    if topic is not None:
        named = next((t for t in infos if t.topic == topic), None)
        if named is None:
            listed = _describe(image_topics) if image_topics else "none"
            raise TrtPanopticError(f"--topic should be an image topic of {bag}, got '{topic}' (not in the bag) — "
                                   f"image topics: {listed}")
        if named not in image_topics:
            raise TrtPanopticError(f"--topic should carry sensor_msgs/msg/Image or CompressedImage, got '{topic}' "
                                   f"({named.schema}) — image topics: {_describe(image_topics) or 'none'}")
        return named
    if not image_topics:
        others = _describe(infos) or "no topics at all"
        raise TrtPanopticError(f"source bag should hold sensor_msgs/msg/Image or CompressedImage messages, got {bag} "
                               f"with {others} — record a camera topic")
    if len(image_topics) > 1:
        raise TrtPanopticError(f"source bag {bag} has several image topics: {_describe(image_topics)} — "
                               "choose one with --topic")
    return image_topics[0]


class BagSource(FrameSource):
    """Frames of one image topic of a ROS 2 bag.

    An image that does not decode (a broken JPEG) is a CORRUPT frame, skipped and counted; an encoding the
    project cannot convert is a one-line error, found on the first frame before anything runs.

    Args:
        path: a ``.mcap`` file or a rosbag2 folder holding ``.mcap`` files.
        topic: the image topic (``--topic``), or None for the only one.
        pace: deliver frames at their recorded log-time spacing (``--realtime``); the source is then live.
    """

    def __init__(self, path: str | os.PathLike, *, topic: str | None = None, pace: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.path = Path(path)
        self._max_pixels = max_pixels
        self.description = str(path)
        if not self.path.exists():
            raise TrtPanopticError(f"source bag should exist, got '{path}' (no such file or folder) — check the path")
        self.files = bags.bag_files(self.path)
        if not self.files:
            raise TrtPanopticError(f"source bag folder should hold .mcap files, got '{path}' without any — "
                                   "record with ros2 bag record -s mcap")
        decoder_mod = import_robotics("mcap_ros2.decoder")
        infos = bags.bag_topics(self.files)
        chosen = choose_image_topic(infos, topic, str(path))
        if chosen.count == 0:
            raise TrtPanopticError(f"source bag should hold image messages, got '{path}' with none on {chosen.topic} — "
                                   "check the recording")
        self.topic = chosen.topic
        self.kind = messages.IMAGE_TYPES[chosen.schema]
        self.num_frames = chosen.count
        self.is_live = pace
        self._pace = pace
        self._decoders = decoder_mod.DecoderFactory()
        self._records = self._iter_records()
        self._position = 0
        self._first_log: int | None = None
        self._t0 = 0.0
        self.fps = None
        # Decode the first frame now: an unsupported encoding fails before any output is opened.
        self._pending = self._next_read()
        if self._pending.status is ReadStatus.END:
            raise TrtPanopticError(f"source bag should hold image messages, got '{path}' with none on {self.topic} — "
                                   "check the recording")
        self.fps = self._estimate_fps()

    def _iter_records(self) -> Iterator[tuple[Any, Any, Any]]:
        try:
            yield from bags.iter_raw(self.files, [self.topic])
        except TrtPanopticError:
            raise
        except Exception as exc:  # noqa: BLE001 — mcap's errors for a damaged chunk (CRC, decompression, length)
            raise TrtPanopticError(
                f"source bag should be readable to its end, got '{self.path}' damaged after frame {self._position} "
                f"({type(exc).__name__}) — repair it with: mcap recover FILE -o fixed.mcap"
            ) from None

    def _estimate_fps(self) -> float | None:
        """The topic's message count over the files' recorded span, in messages per second (None when it cannot
        tell). The span is the summary's, of every topic: a camera recorded for less than the whole bag reads
        slower than it ran (the stamps of its frames are exact either way)."""
        start = end = None
        for path in self.files:
            stats = bags.read_summary(path).statistics
            if stats is None or not stats.message_end_time:
                return None
            start = stats.message_start_time if start is None else min(start, stats.message_start_time)
            end = stats.message_end_time if end is None else max(end, stats.message_end_time)
        if self.num_frames < 2 or not end or end <= start:
            return None
        fps = (self.num_frames - 1) / ((end - start) / 1e9)
        return fps if 0.0 < fps < 1000.0 else None

    def _next_read(self) -> Read:
        record = next(self._records, None)
        if record is None:
            return Read(ReadStatus.END)
        schema, channel, message = record
        position = self._position
        self._position += 1
        try:
            decode = self._decoders.decoder_for(channel.message_encoding, schema)
        except Exception as exc:  # noqa: BLE001 — mcap_ros2 cannot parse the definition stored in the bag
            raise TrtPanopticError(f"images on {self.topic} should have a readable ros2msg definition in the bag, got "
                                   f"one mcap-ros2-support cannot parse ({exc}) — re-record with rosbag2 (MCAP storage)"
                                   ) from None
        if decode is None:
            raise TrtPanopticError(f"images on {self.topic} should be CDR-encoded ROS 2 messages with a ros2msg schema, "
                                   f"got {channel.message_encoding}/{schema.encoding if schema else 'no schema'} — "
                                   "convert the bag with ros2 bag convert")
        try:
            msg = decode(message.data)
        except images.UnsupportedImage:
            raise
        except Exception:  # noqa: BLE001 — a message that does not decode is one bad frame
            logger.warning("skipping undecodable message %d on %s", position, self.topic)
            return Read(ReadStatus.CORRUPT)
        if self.kind == messages.IMAGE:
            try:
                image = images.raw_to_bgr(msg, self.topic)
            except ValueError as exc:
                logger.warning("skipping malformed image %d on %s: %s", position, self.topic, exc)
                image = None
        else:
            image = images.compressed_to_bgr(msg, self.topic, self._max_pixels)
        if image is None:
            return Read(ReadStatus.CORRUPT)
        stamp = FrameStamp(messages.stamp_ns(msg.header), int(message.log_time), str(msg.header.frame_id))
        return Read(ReadStatus.FRAME, image, f"{position:06d}", stamp=stamp)

    def read(self) -> Read:
        if self._pending is not None:
            result, self._pending = self._pending, None
        else:
            result = self._next_read()
        if self._pace and result.stamp is not None:
            self._wait_for(result.stamp.log_time_ns)
        return result

    def _wait_for(self, log_time_ns: int) -> None:
        """Sleep until this message's recorded offset from the first one has passed since the first read."""
        now = time.perf_counter()
        if self._first_log is None:
            self._first_log, self._t0 = log_time_ns, now
            return
        due = self._t0 + (log_time_ns - self._first_log) / 1e9
        if due > now:
            time.sleep(due - now)

    def close(self) -> None:
        self._records.close()
