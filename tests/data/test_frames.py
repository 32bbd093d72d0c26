"""Frames from disk: which files are images, the order they are read in, and one-line errors for bad ones."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trt_panoptic.data.frames import (
    IMAGE_SUFFIXES,
    cv2_module,
    decode_image,
    folder_images,
    glob_images,
    is_image_file,
    read_image_bgr,
    video_frames,
)
from trt_panoptic.errors import TrtPanopticError


def shade(value: int, h: int = 16, w: int = 24) -> np.ndarray:
    """A flat BGR picture whose pixel value tells which one it is."""
    return np.full((h, w, 3), value, np.uint8)


def test_image_suffixes_are_lower_case_and_matched_in_any_case(tmp_path: Path) -> None:
    assert {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"} == set(IMAGE_SUFFIXES)
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)
    cv2.imwrite(str(tmp_path / "shot.PNG"), shade(1))
    (tmp_path / "notes.txt").write_text("not an image")
    assert is_image_file(tmp_path / "shot.PNG") and not is_image_file(tmp_path / "notes.txt")
    assert not is_image_file(tmp_path / "missing.png")


def test_a_folder_lists_its_images_in_natural_order(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), shade(i))
    (tmp_path / "notes.txt").write_text("skipped: not an image")
    (tmp_path / "sub.png").mkdir()  # a folder with an image's name is not an image
    names = [p.name for p in folder_images(tmp_path)]
    assert names == ["frame1.png", "frame2.png", "frame10.png"]
    assert [p.name for p in folder_images(tmp_path, natural=False)] == ["frame1.png", "frame10.png", "frame2.png"]
    assert [p.name for p in glob_images(str(tmp_path / "frame1*"))] == ["frame1.png", "frame10.png"]


def test_reading_an_image_gives_bgr_uint8(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((8, 12), 77, np.uint8))
    image = read_image_bgr(tmp_path / "grey.png")
    assert image.dtype == np.uint8 and image.shape == (8, 12, 3) and int(image[0, 0, 2]) == 77


def test_a_corrupt_image_is_a_one_line_error_or_none(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    assert decode_image(bad) is None  # for readers that skip bad files and go on
    with pytest.raises(TrtPanopticError, match="bad.jpg should be a readable image") as info:
        read_image_bgr(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(TrtPanopticError, match="should exist"):
        read_image_bgr(tmp_path / "missing.png")


def test_video_frames_every_kth_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (24, 16))
    for i in range(7):
        writer.write(shade(30 * i))
    writer.release()
    assert [i for i, _ in video_frames(path, every_k=3)] == [0, 3, 6]
    index, frame = next(video_frames(path, every_k=3, wanted={3}))
    assert index == 3 and frame.shape == (16, 24, 3) and abs(float(frame.mean()) - 90) < 5
    assert list(video_frames(tmp_path / "missing.avi")) == []


def test_cv2_module_is_opencv() -> None:
    assert cv2_module() is cv2


def test_a_png_cut_inside_its_data_is_truncated_even_when_the_data_spells_iend():
    # the chunk layout (zero length, "IEND", a CRC), not the four letters, marks the end
    from trt_panoptic.data.frames import image_problem

    png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))[1].tobytes()
    assert image_problem(png) is None
    cut = png[: len(png) // 2] + b"IEND" + png[len(png) // 2: len(png) // 2 + 40]  # "IEND" inside the IDAT bytes
    assert "truncated PNG" in image_problem(cut)


def test_a_picture_pillow_will_not_even_open_is_refused_by_its_size():
    import struct
    import zlib

    from trt_panoptic.data.frames import image_problem

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)  # 900 MP, RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    assert "got more than" in image_problem(png) and "pixels" in image_problem(png)
