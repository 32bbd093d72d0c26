"""RoIAlignFPN on the host (the plugin's kernel.cuh math) against independent references."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from plugin_reference import fpn_level, roi_align_fpn_reference
from trt_panoptic.errors import TrtPanopticError

STRIDES = [4, 8, 16, 32]


def _pyramid(rng: np.random.Generator, batch: int = 2, channels: int = 3, height: int = 64, width: int = 96):
    """P2..P5 of a height x width input (any size; maps are ceil-divided like a padded FPN)."""
    return [rng.standard_normal((batch, channels, -(-height // s), -(-width // s))).astype(np.float32)
            for s in STRIDES]


def _edge_rois(rng: np.random.Generator, batch: int, height: int = 64, width: int = 96) -> np.ndarray:
    """Random RoIs of every level plus the edge cases: partly/fully outside, tiny, huge, at the borders."""
    n = 24
    xy = rng.uniform(-0.3, 1.1, (n, 2)) * [width, height]
    wh = rng.uniform(0, 1, (n, 2)) ** 3 * 700 + 0.5
    random = np.concatenate([xy, xy + wh], 1)
    edge = np.array([
        [-20, -20, 30, 30],          # partly outside (top-left), samples in [-1, 0] are clamped
        [80, 50, 130, 90],           # partly outside (bottom-right)
        [-300, -300, -200, -210],    # fully outside: every sample is 0
        [200, 150, 260, 220],        # fully outside on the far side
        [10.2, 10.7, 10.9, 11.1],    # tiny (< 1 px), P2
        [-500, -400, 1500, 1300],    # huge, P5, many samples per bin
        [0, 0, 96, 64],              # the whole image
        [0, 0, 224, 224],            # exactly canonical: level 4
        [0, 0, 112, 112],            # exactly half: level 3
        [5, 5, 5, 5],                # empty box: level 2, grid 0, output 0
        [0, 63.5, 95.5, 64],         # one-pixel strip on the last row / column
    ], dtype=np.float64)
    boxes = np.concatenate([random, edge])
    index = rng.integers(0, batch, (len(boxes), 1))
    return np.concatenate([index, boxes], 1).astype(np.float32)


def test_levels_follow_the_fpn_rule(host):
    boxes = np.array([[0, 0, 224, 224], [0, 0, 223.9, 224], [0, 0, 112, 112], [0, 0, 111, 112],
                      [0, 0, 448, 448], [0, 0, 2000, 2000], [0, 0, 1, 1], [3, 3, 3, 3], [5, 5, 2, 2]], np.float32)
    # hand values: sqrt(area)/224 = 1 -> 4; just below -> 3; 1/2 -> 3; below -> 2; 2 -> 5; clamps at 2 and 5;
    # a box with negative extent has positive area here (both sides negative): sqrt(9)=3 -> level 2
    expected = [4, 3, 3, 2, 5, 5, 2, 2, 2]
    assert host.roi_align_fpn_levels(boxes).tolist() == expected
    assert [fpn_level(b) for b in boxes] == expected


def test_levels_equal_the_model_level_mapping(host):
    ops = pytest.importorskip("trt_panoptic.ops")
    rng = np.random.default_rng(6)
    xy = rng.uniform(0, 800, (500, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 1, (500, 2)) ** 2 * 900], 1).astype(np.float32)
    expected = ops.assign_boxes_to_levels(torch.from_numpy(boxes), 2, 5).numpy() + 2
    np.testing.assert_array_equal(host.roi_align_fpn_levels(boxes), expected)


def test_matches_float64_reference_on_edge_rois(host):
    rng = np.random.default_rng(0)
    features = _pyramid(rng)
    rois = _edge_rois(rng, batch=2)
    levels = host.roi_align_fpn_levels(rois[:, 1:])
    assert set(levels.tolist()) == {2, 3, 4, 5}, "the RoI set should reach every level"
    out = host.roi_align_fpn(rois, features, output_size=7)
    ref = roi_align_fpn_reference(rois, features, output_size=7)
    assert out.shape == (len(rois), 3, 7, 7) and out.dtype == np.float32
    # FP32 sample coordinates (x * 2^-k - 0.5 for x up to ~1500 px) move samples by ~1e-4 px at most
    np.testing.assert_allclose(out, ref, atol=5e-5, rtol=0)
    assert np.all(out[np.arange(len(rois)) == len(rois) - 9] == 0), "a fully outside RoI should pool zeros"
    assert np.all(out[-2] == 0), "an empty RoI should pool zeros"


@pytest.mark.parametrize("sampling_ratio, aligned, output_size", [(2, True, 14), (0, False, 7), (1, True, 5)])
def test_matches_float64_reference_for_other_settings(host, sampling_ratio, aligned, output_size):
    rng = np.random.default_rng(1)
    features = _pyramid(rng, batch=1, channels=2)
    rois = _edge_rois(rng, batch=1)[::2]
    out = host.roi_align_fpn(rois, features, output_size, sampling_ratio=sampling_ratio, aligned=aligned)
    ref = roi_align_fpn_reference(rois, features, output_size, sampling_ratio=sampling_ratio, aligned=aligned)
    np.testing.assert_allclose(out, ref, atol=5e-5, rtol=0)


def test_matches_the_pytorch_multilevel_pooler(host):
    """The model's pooler (trt_panoptic.ops, torchvision semantics) in FP32: max abs error <= 1e-5."""
    ops = pytest.importorskip("trt_panoptic.ops")
    if not hasattr(ops, "multilevel_roi_align"):
        pytest.skip("trt_panoptic.ops.multilevel_roi_align is not there yet")
    rng = np.random.default_rng(2)
    features = _pyramid(rng, channels=4)
    rois = _edge_rois(rng, batch=2)
    rois = rois[(rois[:, 3] >= rois[:, 1]) & (rois[:, 4] >= rois[:, 2])]  # the pooler's level rule needs area >= 0
    ref = ops.multilevel_roi_align([torch.from_numpy(f) for f in features], torch.from_numpy(rois), 7, STRIDES,
                                   sampling_ratio=0, aligned=True)
    out = host.roi_align_fpn(torch.from_numpy(rois), [torch.from_numpy(f) for f in features], 7)
    assert isinstance(out, torch.Tensor)
    assert (out - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize("aligned", [True, False])
def test_fast_host_loop_equals_the_per_element_device_function(host, aligned):
    """The host's per-RoI tap reuse and roiAlignBin (what each CUDA thread runs) agree bit for bit."""
    rng = np.random.default_rng(5)
    features = _pyramid(rng)
    rois = _edge_rois(rng, batch=2)
    fast = host.roi_align_fpn(rois, features, 7, aligned=aligned, num_threads=3)
    element = host.roi_align_fpn(rois, features, 7, aligned=aligned, path="element")
    np.testing.assert_array_equal(fast, element)
    np.testing.assert_array_equal(host.roi_align_fpn(rois, features, 7, aligned=aligned, num_threads=1), fast)


def test_four_column_rois_pool_image_zero_and_bad_batch_index_gives_zeros(host):
    rng = np.random.default_rng(3)
    features = _pyramid(rng)
    rois = _edge_rois(rng, batch=1)
    with_index = host.roi_align_fpn(rois, features, 7)
    without = host.roi_align_fpn(rois[:, 1:], features, 7)
    np.testing.assert_array_equal(with_index, without)
    bad = rois[:3].copy()
    bad[:, 0] = [2, -1, 0.5]  # beyond the batch, negative, not an integer
    assert np.all(host.roi_align_fpn(bad, features, 7) == 0)


def test_empty_rois_and_user_errors(host):
    features = _pyramid(np.random.default_rng(4))
    assert host.roi_align_fpn(np.zeros((0, 5), np.float32), features, 7).shape == (0, 3, 7, 7)
    with pytest.raises(TrtPanopticError, match="rois should be"):
        host.roi_align_fpn(np.zeros((3, 6), np.float32), features, 7)
    with pytest.raises(TrtPanopticError, match="P2..P5"):
        host.roi_align_fpn(np.zeros((3, 5), np.float32), features[:3], 7)
    with pytest.raises(TrtPanopticError, match="sampling_ratio"):
        host.roi_align_fpn(np.zeros((3, 5), np.float32), features, 7, sampling_ratio=-1)
