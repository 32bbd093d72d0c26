"""The fixed-shape pooler against the exact one (itself checked against a float64 loop and torchvision), and its
exactness flag."""

import pytest
import torch
from roi_align_reference import roi_align_ref

from trt_panoptic.ops import assign_boxes_to_levels, multilevel_roi_align, multilevel_roi_align_fixed

STRIDES = [4, 8, 16, 32]


def _pyramid(gen, n=2, size=(160, 224), channels=3):
    return [torch.randn(n, channels, -(-size[0] // s), -(-size[1] // s), generator=gen) for s in STRIDES]


def _rois(gen, count, size=(160, 224), n=2, largest=0.7):
    """RoIs of every level: tiny, bin-sized, straddling the border, elongated, degenerate."""
    h, w = size
    cx, cy = torch.rand(count, generator=gen) * w * 1.2 - 0.1 * w, torch.rand(count, generator=gen) * h * 1.2 - 0.1 * h
    bw = torch.rand(count, generator=gen) ** 2 * w * largest + 0.3
    bh = bw * torch.exp(torch.randn(count, generator=gen) * 0.6)
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    boxes[:3] = torch.tensor([[5.0, 5.0, 5.0, 5.0], [10.2, 10.3, 10.6, 10.9], [w - 2.0, h - 2.0, w + 6.0, h + 4.0]])
    batch = torch.randint(0, n, (count, 1), generator=gen).float()
    return torch.cat([batch, boxes], 1)


@pytest.mark.parametrize("output_size", [7, 14])
@pytest.mark.parametrize("sampling_ratio, aligned", [(0, True), (2, True), (0, False)])
def test_fixed_pooler_equals_the_exact_one(output_size, sampling_ratio, aligned):
    gen = torch.Generator().manual_seed(output_size + sampling_ratio)
    feats = _pyramid(gen)
    rois = _rois(gen, 60)
    want = multilevel_roi_align(feats, rois, output_size, STRIDES, sampling_ratio, aligned)
    got, exact = multilevel_roi_align_fixed(feats, rois, output_size, STRIDES, sampling_ratio, aligned, max_short=64, max_long=64,
                                            chunk_values=4096)
    assert bool(exact)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # spot-check against the float64 loop on each RoI's own level
    levels = assign_boxes_to_levels(rois[:, 1:], 2, 5)
    for k in (3, 17, 40):
        lvl = int(levels[k])
        ref = roi_align_ref(feats[lvl], rois[k:k + 1], output_size, 1.0 / STRIDES[lvl], sampling_ratio, aligned)
        torch.testing.assert_close(got[k:k + 1].double(), ref, atol=1e-5, rtol=1e-5)


def test_a_roi_larger_than_the_window_is_flagged():
    gen = torch.Generator().manual_seed(5)
    feats = _pyramid(gen)
    small = torch.tensor([[0, 10.0, 10.0, 60.0, 50.0], [0, 0.0, 40.0, 200.0, 60.0], [1, 40.0, 0.0, 60.0, 150.0]])  # fit
    long = torch.tensor([[1, 0.0, 40.0, 240.0, 50.0]])  # sqrt(area) 45 → level 2, 60 feature px wide
    assert bool(multilevel_roi_align_fixed(feats, small, 7, STRIDES)[1])
    got, exact = multilevel_roi_align_fixed(feats, torch.cat([small, long]), 7, STRIDES)
    assert not bool(exact)
    # the RoIs that fit are still exact
    torch.testing.assert_close(got[:3], multilevel_roi_align(feats, small, 7, STRIDES), atol=1e-5, rtol=1e-5)


def test_no_rois_gives_an_empty_result():
    feats = _pyramid(torch.Generator().manual_seed(0))
    got, exact = multilevel_roi_align_fixed(feats, torch.zeros((0, 5)), 7, STRIDES)
    assert got.shape == (0, 3, 7, 7) and bool(exact)
