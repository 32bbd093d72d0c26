"""ROS 2 message types as stored in a bag: names, complete ``ros2msg`` definitions, CDR encoding.

A bag's schema for a topic is the topic type's ``.msg`` text followed by each type it uses, once, in the
order rosbag2's ``LocalMessageDefinitionSource`` writes them: dependencies of a definition sorted by name,
depth first, each preceded by a line of 80 ``=`` and ``MSG: <type as written in the field>``. The
definitions are the files under ``interfaces/`` (ROS's own copied verbatim — see its README).
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any, Callable

from trt_panoptic.ros2.extra import import_robotics

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
SEGMENTS = "trt_panoptic_msgs/msg/Segments"
CATEGORIES = "trt_panoptic_msgs/msg/Categories"
FRAME_STATS = "trt_panoptic_msgs/msg/FrameStats"

#: Schema names of camera images a bag source can read (ROS 1-style names appear in converted bags).
IMAGE_TYPES = {IMAGE: IMAGE, "sensor_msgs/Image": IMAGE,
               COMPRESSED_IMAGE: COMPRESSED_IMAGE, "sensor_msgs/CompressedImage": COMPRESSED_IMAGE}

_SEPARATOR = "=" * 80 + "\n"
_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "string", "wstring"}
# a field's type at the start of a line: "std_msgs/Header header", "Segment[] segments", "string<=5 s"
_FIELD_TYPE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")


def _split(type_name: str) -> tuple[str, str]:
    """``pkg/msg/Type`` or ``pkg/Type`` → (package, Type)."""
    parts = type_name.split("/")
    assert len(parts) in (2, 3), f"ros2.messages: not a message type name: {type_name}"
    return parts[0], parts[-1]


def msg_text(type_name: str) -> str:
    """The ``.msg`` file of ``type_name`` as shipped in ``interfaces/``."""
    package, name = _split(type_name)
    return resources.files("trt_panoptic.ros2").joinpath("interfaces", package, "msg", f"{name}.msg").read_text("utf-8")


def _dependencies(text: str, package: str) -> list[str]:
    found = set()
    for match in _FIELD_TYPE.finditer(text):
        field_type = match.group(1)
        if field_type in _PRIMITIVES:
            continue
        found.add(field_type if "/" in field_type else f"{package}/{field_type}")
    return sorted(found)


@functools.lru_cache(maxsize=None)
def definition(type_name: str) -> str:
    """The complete ``ros2msg`` definition of ``type_name`` (e.g. ``sensor_msgs/msg/Image``), as rosbag2 stores it."""
    seen: set[str] = set()

    def expand(name: str) -> str:
        package, _ = _split(name)
        text = msg_text(name)
        out = text
        for dep in _dependencies(text, package):
            if dep not in seen:
                seen.add(dep)
                out += "\n" + _SEPARATOR + f"MSG: {dep}\n" + expand(dep)
        return out

    return expand(type_name)


@functools.lru_cache(maxsize=None)
def encoder(type_name: str) -> Callable[[Any], bytes]:
    """A function that serializes a message (nested dicts or objects with the fields) to CDR bytes.

    mcap-ros2-support's own writer owns its MCAP writer, but a result bag also copies raw messages of the
    input (``--passthrough``); so the bag is written with ``mcap``'s writer and only the encoder is taken
    from mcap-ros2-support (its ``_dynamic`` module, the one its writer uses: pinned in setup.py).
    """
    dynamic = import_robotics("mcap_ros2._dynamic")
    return dynamic.serialize_dynamic(type_name, definition(type_name))[type_name]


def stamp_fields(stamp_ns: int, frame_id: str) -> dict:
    """A ``std_msgs/Header`` for a time in nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id}


def stamp_ns(header: Any) -> int:
    """A decoded ``std_msgs/Header``'s stamp in nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
