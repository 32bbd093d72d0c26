"""prepare_input: the single BGR-frame → model-input path of every backend and of INT8 calibration."""
import numpy as np
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.data.preprocess import prepare_input


def test_bgr_model_keeps_channels_and_rgb_model_gets_them_flipped():
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 20, 30  # B, G, R
    bgr, box = prepare_input(frame, None, None, (0.0, 0.0, 0.0), rgb=False)
    rgb, _ = prepare_input(frame, None, None, (0.0, 0.0, 0.0), rgb=True)
    assert bgr.shape == (1, 3, 4, 6) and bgr[0, :, 0, 0].tolist() == [10, 20, 30]
    assert rgb[0, :, 0, 0].tolist() == [30, 20, 10]
    assert (box.scale, box.resized, box.original) == (1.0, (4, 6), (4, 6))


def test_letterboxed_rgb_pads_with_the_mean_in_model_order():
    frame = np.full((16, 32, 3), (10, 20, 30), np.uint8)
    x, _ = prepare_input(frame, 32, 32, (123.0, 116.0, 103.0), rgb=True)
    assert x[0, :, 0, 0].tolist() == [30, 20, 10]  # image area, flipped
    assert x[0, :, -1, 0].tolist() == [123, 116, 103]  # padding below the image


def test_bad_frame_is_a_one_line_error():
    with pytest.raises(TrtPanopticError, match="BGR uint8"):
        prepare_input(np.zeros((4, 4), np.float32), None, None, (0.0, 0.0, 0.0), rgb=True)
