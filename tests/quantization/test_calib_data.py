"""Calibration images from a folder, a video and the synthetic generator, letterboxed as inference does."""
import logging

import cv2
import numpy as np
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.quantization.calib_data import CalibrationImages
from trt_panoptic.data.preprocess import letterbox

MEAN = (103.53, 116.28, 123.675)


def picture(seed, h=48, w=80):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_folder_skips_unreadable_files_and_warns_with_the_count(tmp_path, caplog):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), picture(i))
    (tmp_path / "3.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING):
        data = CalibrationImages(tmp_path, 5, (64, 64), MEAN)
    assert len(data) == 3
    assert "3 usable images" in caplog.text and "fewer than the 5 asked" in caplog.text
    images = list(data)
    assert [x.shape for x in images] == [(1, 3, 64, 64)] * 3 and images[0].dtype == np.uint8
    # identical to what the predictors feed the model
    np.testing.assert_array_equal(images[1], letterbox(picture(1), 64, 64, MEAN)[0])
    assert list(data)[2].tobytes() == images[2].tobytes()  # re-iterable, same pixels each pass


def test_dataset_folder_means_its_images_not_its_label_pngs(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "panoptic").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), picture(0))
    cv2.imwrite(str(tmp_path / "panoptic" / "a.png"), picture(1))
    data = CalibrationImages(tmp_path, 4, (32, 32))
    assert data.items == [tmp_path / "images" / "a.png"]


def test_no_usable_image_is_an_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(TrtPanopticError, match="usable images, got none"):
        CalibrationImages(tmp_path, 4, (32, 32))
    with pytest.raises(TrtPanopticError, match="not found"):
        CalibrationImages(tmp_path / "nope", 4, (32, 32))


def test_video_every_kth_frame(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    data = CalibrationImages(path, 8, (32, 32), every_k=3)
    assert data.items == [0, 3, 6, 9]
    means = [float(x[0, :, :24].mean()) for x in data]  # letterboxed 48x64 → 24x32 at the top
    np.testing.assert_allclose(means, [0, 60, 120, 180], atol=3)


def test_synthetic_is_deterministic_per_seed():
    a = list(CalibrationImages("synthetic:3", 2, (64, 64)))
    b = list(CalibrationImages("synthetic:3", 2, (64, 64)))
    c = list(CalibrationImages("synthetic:4", 1, (64, 64)))
    assert len(a) == 2 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(TrtPanopticError, match="integer seed"):
        CalibrationImages("synthetic:x", 1, (64, 64))


def test_rgb_models_get_flipped_frames_like_at_inference(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), picture(0, 32, 32))
    bgr = next(iter(CalibrationImages(tmp_path, 1, (32, 32))))
    rgb = next(iter(CalibrationImages(tmp_path, 1, (32, 32), rgb=True)))
    np.testing.assert_array_equal(rgb, bgr[:, ::-1])


def test_letterboxed_calibration_images_say_where_the_frame_ends(tmp_path):
    # the graph zeroes everything outside valid_hw: calibration must pass the letterbox region, as the
    # predictors do, or its statistics see padding that inference never sees
    cv2.imwrite(str(tmp_path / "wide.png"), np.zeros((30, 60, 3), np.uint8))
    (image, valid_hw), = list(CalibrationImages(tmp_path, 1, (64, 64)).with_valid_hw())
    assert image.shape == (1, 3, 64, 64) and valid_hw.tolist() == [[32, 64]] and valid_hw.dtype == np.int32
