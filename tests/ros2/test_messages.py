"""Message definitions as rosbag2 stores them, and CDR that mcap-ros2-support's decoder reads back."""
from __future__ import annotations

import math

import pytest

pytest.importorskip("mcap_ros2", reason="needs the robotics extra: pip install -e '.[robotics]'")

from mcap.records import Schema  # noqa: E402
from mcap_ros2.decoder import DecoderFactory  # noqa: E402

from trt_panoptic.ros2 import messages  # noqa: E402

SEPARATOR = "=" * 80


def _msg_lines(text: str) -> list[str]:
    return [line[len("MSG: "):] for line in text.splitlines() if line.startswith("MSG: ")]


def test_image_definition_is_the_msg_file_then_its_dependencies_once_each() -> None:
    for name in (messages.IMAGE, messages.COMPRESSED_IMAGE):
        text = messages.definition(name)
        assert text.startswith(messages.msg_text(name))
        # rosbag2's rule: dependencies named as the field spells them, depth first, each once
        assert _msg_lines(text) == ["std_msgs/Header", "builtin_interfaces/Time"]
        assert text.count(SEPARATOR + "\n") == 2
        header = text.split(SEPARATOR + "\nMSG: std_msgs/Header\n")[1].split("\n" + SEPARATOR)[0]
        assert header == messages.msg_text("std_msgs/msg/Header")


def test_our_definitions_sort_dependencies_as_rosbag2_does() -> None:
    assert _msg_lines(messages.definition(messages.SEGMENTS)) == [
        "std_msgs/Header", "builtin_interfaces/Time", "trt_panoptic_msgs/Segment"]
    assert _msg_lines(messages.definition(messages.CATEGORIES)) == [
        "std_msgs/Header", "builtin_interfaces/Time", "trt_panoptic_msgs/Category"]


def _decode(type_name: str, data: bytes):
    schema = Schema(id=1, name=type_name, encoding="ros2msg", data=messages.definition(type_name).encode())
    return DecoderFactory().decoder_for("cdr", schema)(data)


def test_every_type_encodes_to_cdr_the_reference_decoder_reads() -> None:
    header = messages.stamp_fields(1_767_225_600_123_456_789, "cam")
    image = _decode(messages.IMAGE, messages.encoder(messages.IMAGE)(
        {"header": header, "height": 2, "width": 3, "encoding": "rgb8", "is_bigendian": 0, "step": 9,
         "data": bytes(range(18))}))
    assert messages.stamp_ns(image.header) == 1_767_225_600_123_456_789 and image.header.frame_id == "cam"
    assert (image.height, image.width, image.encoding, image.step, bytes(image.data)) == (2, 3, "rgb8", 9, bytes(range(18)))

    seg = {"id": 3, "category_id": 5, "category_name": "road", "isthing": False, "score": math.nan, "area": 40,
           "x0": 1, "y0": 2, "x1": 9, "y1": 7}
    thing = dict(seg, id=1, category_id=2, category_name="disc", isthing=True, score=0.75)
    decoded = _decode(messages.SEGMENTS, messages.encoder(messages.SEGMENTS)({"header": header, "segments": [thing, seg]}))
    assert [s.category_name for s in decoded.segments] == ["disc", "road"]
    assert decoded.segments[0].score == pytest.approx(0.75) and math.isnan(decoded.segments[1].score)
    assert (decoded.segments[1].x0, decoded.segments[1].y1, decoded.segments[1].area) == (1, 7, 40)

    stats = _decode(messages.FRAME_STATS, messages.encoder(messages.FRAME_STATS)(
        {"header": header, "frame_index": 7, "backend": "onnxruntime", "decode_ms": 1.5, "queue_ms": 0.0,
         "infer_ms": 30.25, "render_ms": 2.0, "latency_ms": 40.0}))
    assert (stats.frame_index, stats.backend, stats.infer_ms) == (7, "onnxruntime", 30.25)

    cats = _decode(messages.CATEGORIES, messages.encoder(messages.CATEGORIES)(
        {"header": header, "categories": [{"id": 1, "name": "disc", "isthing": True}]}))
    assert [(c.id, c.name, c.isthing) for c in cats.categories] == [(1, "disc", True)]
