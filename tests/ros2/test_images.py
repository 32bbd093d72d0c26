"""Image messages ↔ BGR frames, against mosaics and byte layouts built by hand here."""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from trt_panoptic.ros2 import images

BGR = (10, 120, 240)


def _raw(pixels: np.ndarray, encoding: str, pad: int = 0) -> SimpleNamespace:
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    if pad:
        rows = np.concatenate([rows, np.full((h, pad), 99, np.uint8)], axis=1)
    return SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=0, step=rows.shape[1],
                           data=rows.tobytes())


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_mosaics_demosaic_to_their_colour(pattern: str) -> None:
    # A flat colour seen through the colour filter array: each 2x2 cell holds the letters of the pattern,
    # row by row (ROS's bayer_rggb8: R G on even rows, G B on odd rows).
    channel = {"b": 0, "g": 1, "r": 2}
    mosaic = np.zeros((8, 10), np.uint8)
    for k, letter in enumerate(pattern):
        mosaic[k // 2::2, k % 2::2] = BGR[channel[letter]]
    out = images.raw_to_bgr(_raw(mosaic, f"bayer_{pattern}8"))
    assert out.shape == (8, 10, 3)
    assert np.abs(out[2:6, 2:8].astype(int) - np.array(BGR)).max() <= 2


def test_rgb8_with_padded_rows_and_mono8() -> None:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    assert np.array_equal(images.raw_to_bgr(_raw(rgb, "rgb8", pad=3)), bgr)
    assert np.array_equal(images.raw_to_bgr(_raw(bgr, "bgr8")), bgr)
    gray = bgr[:, :, 0].copy()
    assert np.array_equal(images.raw_to_bgr(_raw(gray, "mono8", pad=1)), np.stack([gray] * 3, axis=2))


@pytest.mark.parametrize("encoding", ["rgb16", "16UC1", "32FC1", "yuv422"])
def test_unsupported_encodings_are_named_in_the_error(encoding: str) -> None:
    msg = SimpleNamespace(height=2, width=2, encoding=encoding, is_bigendian=0, step=8, data=bytes(16))
    with pytest.raises(images.UnsupportedImage, match=f"got '{encoding}'.*--topic") as err:
        images.raw_to_bgr(msg, "/depth")
    assert "rgb8" in str(err.value) and "bayer_rggb8" in str(err.value) and "\n" not in str(err.value)


def test_compressed_jpeg_png_and_refused_depth() -> None:
    bgr = np.random.default_rng(1).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    png = images.bgr_to_compressed(bgr, "png")
    assert png["format"] == "bgr8; png compressed bgr8"
    assert np.array_equal(images.compressed_to_bgr(SimpleNamespace(**png)), bgr)
    assert images.compressed_to_bgr(SimpleNamespace(format="jpeg", data=b"not a jpeg")) is None
    with pytest.raises(images.UnsupportedImage, match="compressedDepth"):
        images.compressed_to_bgr(SimpleNamespace(format="16UC1; compressedDepth png", data=png["data"]), "/depth")


def test_id_maps_use_16_bits_when_ids_fit_else_32() -> None:
    small = np.array([[0, 1], [65535, 3]], np.int32)
    fields = images.id_map_to_raw(small)
    assert fields["encoding"] == "16UC1" and fields["step"] == 4
    assert np.array_equal(np.frombuffer(fields["data"], "<u2").reshape(2, 2), small)
    big = np.array([[0, 65536], [70000, 3]], np.int32)
    fields = images.id_map_to_raw(big)
    assert fields["encoding"] == "32SC1" and fields["step"] == 8
    assert np.array_equal(np.frombuffer(fields["data"], "<i4").reshape(2, 2), big)
    assert np.array_equal(images.raw_to_id_map(SimpleNamespace(**fields)), big)


def test_synthetic_bayer_mosaic_round_trips_through_opencv() -> None:
    # bgr_to_raw's mosaic (for synthetic bags) must be what raw_to_bgr reads: flat colour back to itself
    flat = np.full((8, 8, 3), BGR, np.uint8)
    for encoding in ("bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8"):
        fields = images.bgr_to_raw(flat, encoding)
        out = images.raw_to_bgr(SimpleNamespace(**fields))
        assert np.abs(out[2:6, 2:6].astype(int) - np.array(BGR)).max() <= 2, encoding
    assert cv2.imdecode(np.frombuffer(images.bgr_to_compressed(flat)["data"], np.uint8), cv2.IMREAD_COLOR).shape == (8, 8, 3)
