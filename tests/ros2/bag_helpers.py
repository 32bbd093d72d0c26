"""Reading bags back for the tests with the packages' own public API (mcap's reader, mcap-ros2-support's
decoder), independent of trt_panoptic.ros2; and writing odd bags with mcap-ros2-support's writer."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from mcap_ros2.writer import Writer


def read_bag(path: Path) -> dict[str, list[tuple[Any, Any, Any]]]:
    """topic → [(schema, message record, decoded message)] in log-time order."""
    out: dict[str, list] = defaultdict(list)
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            out[channel.topic].append((schema, message, decoded))
    return dict(out)


def summary_counts(path: Path) -> dict[str, tuple[str, int]]:
    """topic → (schema name, message count) from the file's summary section."""
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    counts = summary.statistics.channel_message_counts
    return {c.topic: (summary.schemas[c.schema_id].name, counts.get(c.id, 0)) for c in summary.channels.values()}


def stamp_ns(header: Any) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def decode_frame(schema_name: str, msg: Any) -> np.ndarray:
    """BGR frame of an image message, decoded here with numpy/OpenCV (8-bit rgb/bgr/mono and jpeg/png only)."""
    if schema_name.endswith("CompressedImage"):
        return cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    data = np.frombuffer(msg.data, np.uint8)
    if msg.encoding == "mono8":
        gray = data.reshape(msg.height, msg.step)[:, : msg.width]
        return np.repeat(gray[:, :, None], 3, axis=2)
    pixels = data.reshape(msg.height, msg.step)[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return np.ascontiguousarray(pixels[:, :, ::-1] if msg.encoding == "rgb8" else pixels)


def id_map(msg: Any) -> np.ndarray:
    """A 16UC1/32SC1 sensor_msgs/Image as int64 [H, W]."""
    dtype = {"16UC1": "<u2", "32SC1": "<i4"}[msg.encoding]
    item = np.dtype(dtype).itemsize
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * item]
    return np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width).astype(np.int64)


def image_definition() -> tuple[str, str]:
    """(sensor_msgs/msg/Image's full definition, CompressedImage's) as the package ships them."""
    from trt_panoptic.ros2.messages import COMPRESSED_IMAGE, IMAGE, definition

    return definition(IMAGE), definition(COMPRESSED_IMAGE)


def write_raw_bag(path: Path, topic: str, encoding: str, frames: list[np.ndarray], *, step_pad: int = 0,
                  start_ns: int = 1_000_000_000_000, period_ns: int = 40_000_000) -> Path:
    """A bag of sensor_msgs/Image messages with ``encoding`` whose data is each frame's bytes as they are
    (the caller gives arrays already in that encoding's layout), rows padded by ``step_pad`` bytes."""
    image_def, _ = image_definition()
    with open(path, "wb") as f:
        writer = Writer(f)
        schema = writer.register_msgdef("sensor_msgs/msg/Image", image_def)
        for i, pixels in enumerate(frames):
            h, w = pixels.shape[:2]
            row = pixels.reshape(h, -1)
            padded = np.concatenate([row, np.full((h, step_pad), 7, np.uint8)], axis=1) if step_pad else row
            stamp = start_ns + i * period_ns
            writer.write_message(topic, schema, {
                "header": {"stamp": {"sec": stamp // 10**9, "nanosec": stamp % 10**9}, "frame_id": "cam"},
                "height": h, "width": w, "encoding": encoding, "is_bigendian": 0, "step": padded.shape[1],
                "data": np.ascontiguousarray(padded).tobytes()}, log_time=stamp + 1000, publish_time=stamp + 1000)
        writer.finish()
    return path
