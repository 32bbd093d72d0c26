"""roi_align against a naive float64 per-sample loop (torchvision's definition) and torchvision itself."""

import pytest
import torch
from roi_align_reference import roi_align_ref

from trt_panoptic.ops import assign_boxes_to_levels, multilevel_roi_align, roi_align


def _random_rois(gen, n_images, img_size):
    """Boxes inside, straddling and fully outside the image, smaller than a bin, and degenerate."""
    rois = []
    for _ in range(12):
        cx, cy = torch.rand(2, generator=gen) * img_size * 1.6 - 0.3 * img_size
        w, h = torch.rand(2, generator=gen) * img_size * 0.8 + 0.2
        rois.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    rois += [[-40, -40, -10, -5], [img_size + 3, 2, img_size + 30, 20], [10.2, 10.3, 10.6, 10.9],
             [5, 5, 5, 5], [img_size - 2, img_size - 2, img_size + 6, img_size + 4]]
    rois = torch.tensor(rois, dtype=torch.float32)
    batch = torch.randint(0, n_images, (rois.shape[0], 1), generator=gen).float()
    return torch.cat([batch, rois], dim=1)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_roi_align_matches_float64_loop(aligned, sampling_ratio):
    gen = torch.Generator().manual_seed(0)
    inp = torch.randn(2, 3, 9, 11, generator=gen)
    rois = _random_rois(gen, n_images=2, img_size=40)
    got = roi_align(inp, rois, 3, spatial_scale=0.25, sampling_ratio=sampling_ratio, aligned=aligned)
    ref = roi_align_ref(inp, rois, 3, 0.25, sampling_ratio, aligned)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), ref, atol=1e-5, rtol=1e-5)
    # A RoI fully outside the map pools to exactly 0.
    assert got[12].abs().max() == 0


def test_roi_align_list_of_boxes_equals_tensor_form():
    gen = torch.Generator().manual_seed(1)
    inp = torch.randn(2, 4, 16, 16, generator=gen)
    rois = _random_rois(gen, 2, 64)
    as_list = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    ordered = torch.cat([rois[rois[:, 0] == i] for i in range(2)])
    torch.testing.assert_close(roi_align(inp, as_list, (2, 4), 0.25, 0, True), roi_align(inp, ordered, (2, 4), 0.25, 0, True))


def test_roi_align_bad_input():
    with pytest.raises(ValueError, match="Tensor\\[N, C, H, W\\]"):
        roi_align(torch.zeros(3, 8, 8), torch.zeros(1, 5), 2)
    with pytest.raises(ValueError, match="Tensor\\[K, 5\\]"):
        roi_align(torch.zeros(1, 3, 8, 8), torch.zeros(1, 4), 2)


def test_roi_align_matches_torchvision():
    tv_ops = pytest.importorskip("torchvision.ops", reason="torchvision not installed", exc_type=ImportError)
    gen = torch.Generator().manual_seed(2)
    inp = torch.randn(2, 5, 13, 17, generator=gen)
    rois = _random_rois(gen, 2, 60)
    for aligned in (True, False):
        for sr in (0, 2, -1):
            want = tv_ops.roi_align(inp, rois, (7, 7), 0.25, sr, aligned)
            torch.testing.assert_close(roi_align(inp, rois, (7, 7), 0.25, sr, aligned), want, atol=1e-5, rtol=1e-5)


def test_level_mapping_on_known_sizes():
    # sqrt(area) 224 → level 4; 112 → 3; 448 → 5; 56 → 2; tiny → clamp 2; huge → clamp 5.
    sides = torch.tensor([224.0, 112.0, 448.0, 56.0, 4.0, 2000.0, 223.0])
    boxes = torch.stack([torch.zeros_like(sides), torch.zeros_like(sides), sides, sides], dim=1)
    assert assign_boxes_to_levels(boxes, 2, 5).tolist() == [2, 1, 3, 0, 0, 3, 1]


def test_multilevel_pooler_uses_the_mapped_level():
    gen = torch.Generator().manual_seed(3)
    strides = [4, 8, 16, 32]
    feats = [torch.randn(1, 2, 128 // s, 128 // s, generator=gen) for s in strides]
    rois = torch.tensor([[0, 10, 10, 30, 40], [0, 0, 0, 120, 110], [0, 5, 60, 70, 127]], dtype=torch.float32)
    got = multilevel_roi_align(feats, rois, 7, strides, sampling_ratio=0, aligned=True)
    levels = assign_boxes_to_levels(rois[:, 1:], 2, 5)
    for k in range(3):
        s = strides[levels[k]]
        ref = roi_align_ref(feats[levels[k]], rois[k : k + 1], 7, 1.0 / s, 0, True)
        torch.testing.assert_close(got[k : k + 1].double(), ref, atol=1e-5, rtol=1e-5)


def test_pooler_host_build_equals_the_tensor_version():
    # On the CPU the pooler runs the RoIAlignFPN plugin's host build (taps once per RoI, as torchvision's CPU
    # kernel); both follow torchvision's definition, so they agree to float32 rounding.
    pytest.importorskip("trt_panoptic.plugins.host")
    from trt_panoptic.plugins import host

    if not host.library_available():
        pytest.skip("no C++ compiler for the host library")
    gen = torch.Generator().manual_seed(4)
    strides = [4, 8, 16, 32]
    feats = [torch.randn(2, 5, 160 // s, 224 // s, generator=gen) for s in strides]
    rois = _random_rois(gen, 2, 200)
    for sr in (0, 2):
        want = multilevel_roi_align(feats, rois, 7, strides, sr, True, implementation="torch")
        got = multilevel_roi_align(feats, rois, 7, strides, sr, True, implementation="host")
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_pooler_keeps_the_gradient_path_when_training():
    strides = [4, 8, 16, 32]
    feats = [torch.randn(1, 2, 64 // s, 64 // s, requires_grad=True) for s in strides]
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 30.0]])
    out = multilevel_roi_align(feats, rois, 7, strides)  # auto: the host build has no gradient
    out.sum().backward()
    assert feats[0].grad is not None and feats[0].grad.abs().sum() > 0
