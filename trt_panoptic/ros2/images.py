"""Camera images in and out of ROS 2 messages: ``sensor_msgs/Image`` and ``CompressedImage`` ↔ BGR arrays.

Decoding follows ROS's ``sensor_msgs/image_encodings.hpp`` names and cv_bridge's conversions (Bayer
patterns included); an encoding outside :data:`SUPPORTED_ENCODINGS` is a one-line error naming them.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from trt_panoptic.data.frames import DEFAULT_MAX_PIXELS, cv2_module, image_problem
from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

#: OpenCV's Bayer names count from the second row's second pixel: ROS's bayer_rggb8 is OpenCV's BayerBG
#: (cv_bridge uses the same table; tests/ros2/test_images.py checks it on a mosaic built by hand).
_BAYER = {"bayer_rggb8": "COLOR_BayerBG2BGR", "bayer_bggr8": "COLOR_BayerRG2BGR",
          "bayer_gbrg8": "COLOR_BayerGR2BGR", "bayer_grbg8": "COLOR_BayerGB2BGR"}
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3, **{k: 1 for k in _BAYER}}
SUPPORTED_ENCODINGS = tuple(_CHANNELS)
COMPRESSED_FORMATS = ("jpeg", "png")


class UnsupportedImage(TrtPanopticError):
    """An image message this project cannot turn into a BGR frame (its encoding or format)."""


def check_raw_encoding(encoding: str, topic: str) -> None:
    """Raise :class:`UnsupportedImage` unless ``encoding`` is one :func:`raw_to_bgr` decodes."""
    if encoding not in _CHANNELS:
        raise UnsupportedImage(
            f"images on {topic} should have an 8-bit colour, mono or Bayer encoding ({', '.join(SUPPORTED_ENCODINGS)}), "
            f"got '{encoding}' — convert them (e.g. with image_proc) or pick another topic with --topic"
        )


def check_compressed_format(fmt: str, topic: str) -> None:
    """Raise :class:`UnsupportedImage` for compressed formats other than JPEG/PNG colour or mono images."""
    lowered = fmt.lower()
    # an empty format means "bgr8 or mono8 jpeg" (CompressedImage.msg)
    known = not lowered or any(codec in lowered for codec in COMPRESSED_FORMATS)
    if "compresseddepth" in lowered or not known:
        raise UnsupportedImage(
            f"compressed images on {topic} should be jpeg or png camera images, got format '{fmt}' — "
            "pick a camera topic with --topic"
        )


def raw_to_bgr(msg: Any, topic: str = "the topic") -> np.ndarray:
    """A decoded ``sensor_msgs/Image`` → BGR uint8 [H, W, 3] (a copy)."""
    encoding = str(msg.encoding)
    check_raw_encoding(encoding, topic)
    cv2 = cv2_module()
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    channels = _CHANNELS[encoding]
    data = np.frombuffer(bytes(msg.data), np.uint8)
    if h * w == 0 or step < w * channels or data.size < step * h:
        raise ValueError(f"{w}x{h} {encoding} image with step {step} and {data.size} bytes")
    pixels = data[: step * h].reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if encoding in _BAYER:
        return cv2.cvtColor(pixels[:, :, 0], getattr(cv2, _BAYER[encoding]))
    if channels == 1:
        return cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2BGR)
    if encoding.startswith("rgb"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def compressed_to_bgr(msg: Any, topic: str = "the topic", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """A decoded ``sensor_msgs/CompressedImage`` → BGR uint8 [H, W, 3], or None (with a warning) when the data
    is truncated, above ``max_pixels`` (see :func:`~trt_panoptic.data.frames.image_problem`) or does not decode."""
    check_compressed_format(str(msg.format), topic)
    data = bytes(msg.data)
    problem = image_problem(data, max_pixels)
    if problem is not None:
        logger.warning("skipping a frame on %s: it %s", topic, problem)
        return None
    cv2 = cv2_module()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return image if image is not None and image.ndim == 3 else None


def bgr_to_raw(image: np.ndarray, encoding: str) -> dict:
    """The ``height, width, encoding, is_bigendian, step, data`` fields of a ``sensor_msgs/Image`` holding a BGR
    frame as ``rgb8``, ``bgr8``, ``mono8`` or a ``bayer_*8`` mosaic (for synthetic bags)."""
    cv2 = cv2_module()
    h, w = image.shape[:2]
    if encoding == "bgr8":
        pixels = image
    elif encoding == "rgb8":
        pixels = image[:, :, ::-1]
    elif encoding == "mono8":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif encoding in _BAYER:
        pattern = encoding[len("bayer_"):-1].upper()  # e.g. "RGGB": row 0 = R G, row 1 = G B
        channel = {"B": 0, "G": 1, "R": 2}
        pixels = np.empty((h, w), np.uint8)
        for dy in range(2):
            for dx in range(2):
                pixels[dy::2, dx::2] = image[dy::2, dx::2, channel[pattern[2 * dy + dx]]]
    else:
        raise TrtPanopticError(f"encoding should be one of rgb8, bgr8, mono8, {', '.join(_BAYER)}, got '{encoding}'")
    pixels = np.ascontiguousarray(pixels)
    return {"height": h, "width": w, "encoding": encoding, "is_bigendian": 0,
            "step": pixels.strides[0], "data": pixels.tobytes()}


def bgr_to_compressed(image: np.ndarray, codec: str = "jpeg", quality: int = 90) -> dict:
    """The ``format, data`` fields of a ``sensor_msgs/CompressedImage`` for a BGR frame, spelled as
    compressed_image_transport does (``"bgr8; jpeg compressed bgr8"``)."""
    cv2 = cv2_module()
    if codec == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif codec == "png":
        ok, buf = cv2.imencode(".png", image)
    else:
        raise TrtPanopticError(f"compression should be jpeg or png, got '{codec}'")
    assert ok, "ros2.images: OpenCV failed to encode a BGR uint8 frame"
    return {"format": f"bgr8; {codec} compressed bgr8", "data": buf.tobytes()}


def id_map_to_raw(panoptic: np.ndarray) -> dict:
    """A panoptic id map as ``sensor_msgs/Image`` fields: ``16UC1`` when every id fits in 16 bits (always, unless
    a frame has 65,536 segments or more), else ``32SC1``; little-endian either way."""
    h, w = panoptic.shape
    fits = panoptic.size == 0 or (int(panoptic.min()) >= 0 and int(panoptic.max()) <= 0xFFFF)
    dtype, encoding = (np.dtype("<u2"), "16UC1") if fits else (np.dtype("<i4"), "32SC1")
    pixels = np.ascontiguousarray(panoptic, dtype=dtype)
    return {"height": h, "width": w, "encoding": encoding, "is_bigendian": 0,
            "step": pixels.strides[0], "data": pixels.tobytes()}


def raw_to_id_map(msg: Any) -> np.ndarray:
    """The inverse of :func:`id_map_to_raw`: a decoded ``16UC1``/``32SC1`` image → int32 [H, W]."""
    dtype = {"16UC1": "u2", "32SC1": "i4"}[str(msg.encoding)]
    dtype = np.dtype((">" if msg.is_bigendian else "<") + dtype)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    rows = np.frombuffer(bytes(msg.data), np.uint8)[: step * h].reshape(h, step)[:, : w * dtype.itemsize]
    return np.ascontiguousarray(rows).view(dtype).reshape(h, w).astype(np.int32)
