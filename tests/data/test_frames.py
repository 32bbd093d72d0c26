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
