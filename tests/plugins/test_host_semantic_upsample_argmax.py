"""SemanticUpsampleArgmax on the host (the plugin's kernel.cuh math) against PyTorch's interpolate + argmax."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trt_panoptic.errors import TrtPanopticError


def _reference(logits: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(logits, scale_factor=scale, mode="bilinear", align_corners=False)


def _assert_equal_except_near_ties(labels: torch.Tensor, logits: torch.Tensor, scale: int) -> int:
    """Labels equal torch's argmax wherever torch's top two classes are not tied to float32 rounding.

    PyTorch's CPU kernel rounds some pixels differently (its vectorized loop is free to fuse
    multiply-adds), so two classes whose upsampled values agree to a few ulp can swap. Every
    mismatch must be such a near-tie: |up[ours] - up[torch's]| <= 4 ulp of the value. Returns their count.
    """
    up = _reference(logits, scale)
    ref = up.argmax(1)
    mismatch = labels.long() != ref
    if mismatch.any():
        ours = up.gather(1, labels.long().unsqueeze(1)).squeeze(1)[mismatch]
        best = up.max(1).values[mismatch]
        ulp = torch.finfo(torch.float32).eps * best.abs().clamp(min=1.0)
        assert torch.all(best - ours <= 4 * ulp), f"non-tie mismatches: {(best - ours).max().item()}"
    return int(mismatch.sum())


@pytest.mark.parametrize("scale", [4, 2, 3])
def test_labels_equal_interpolate_argmax(host, scale):
    logits = torch.randn(2, 54, 24, 40)  # 54 classes: COCO panoptic stuff + 'other'
    labels = host.semantic_upsample_argmax(logits, scale_factor=scale)
    assert labels.shape == (2, 24 * scale, 40 * scale) and labels.dtype == torch.int32
    near_ties = _assert_equal_except_near_ties(labels, logits, scale)
    assert near_ties <= labels.numel() * 1e-3, "near ties should be rare on random logits"


def test_integer_logits_with_many_exact_ties(host):
    """Small-integer logits tie exactly at many pixels: the first maximum must win, as in torch.argmax."""
    logits = torch.randint(0, 3, (1, 12, 16, 20)).float()
    labels = host.semantic_upsample_argmax(logits)
    up = _reference(logits, 4)
    exact_ties = int(((up == up.max(1, keepdim=True).values).sum(1) > 1).sum())
    assert exact_ties > 100, "the case should contain many exact ties"
    _assert_equal_except_near_ties(labels, logits, 4)


def test_ties_resolve_to_the_first_class(host):
    constant = torch.full((1, 5, 6, 7), 2.5)
    assert torch.all(host.semantic_upsample_argmax(constant) == 0)
    half = torch.randn(1, 4, 10, 12)
    duplicated = torch.cat([half, half], 1)  # classes c and c + 4 tie exactly at every pixel
    labels, scores = host.semantic_upsample_argmax(duplicated, with_score=True)
    assert torch.all(labels < 4)
    assert torch.equal(labels, host.semantic_upsample_argmax(half))


def test_nan_wins_like_torch_argmax(host):
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 1, 0, 0] = float("nan")
    labels = host.semantic_upsample_argmax(logits)
    assert torch.equal(labels.long(), _reference(logits, 4).argmax(1))


def test_score_is_the_winning_upsampled_logit(host):
    logits = torch.randn(1, 7, 9, 11)
    labels, scores = host.semantic_upsample_argmax(logits, with_score=True)
    up = _reference(logits, 4)
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, up.max(1).values, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(scores, up.gather(1, labels.long().unsqueeze(1)).squeeze(1), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 4, 1, 9), (3, 2, 5, 1), (1, 1, 4, 4)])
def test_tiny_maps_and_one_class(host, shape):
    logits = torch.randn(*shape)
    labels = host.semantic_upsample_argmax(logits)
    _assert_equal_except_near_ties(labels, logits, 4)


@pytest.mark.parametrize("scale, paths", [(4, ("pixel", "block", "group")), (2, ("pixel", "block", "group")),
                                          (8, ("group",)), (3, ("pixel",))])
def test_row_loop_equals_the_device_functions(host, scale, paths):
    """The host's row loop and the functions CUDA threads run (pixel, block, group) agree bit for bit."""
    logits = np.random.default_rng(0).standard_normal((2, 21, 13, 17)).astype(np.float32)
    logits[0, 3] = logits[0, 5]  # exact ties too
    rows, row_scores = host.semantic_upsample_argmax(logits, scale, with_score=True, num_threads=3)
    assert isinstance(rows, np.ndarray) and rows.dtype == np.int32
    np.testing.assert_array_equal(host.semantic_upsample_argmax(logits, scale, num_threads=1), rows)
    for path in paths:
        labels, scores = host.semantic_upsample_argmax(logits, scale, with_score=True, path=path)
        np.testing.assert_array_equal(rows, labels)
        np.testing.assert_array_equal(row_scores, scores)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 2, 1, 2), (1, 4, 2, 1)])
def test_group_path_on_one_and_two_pixel_maps(host, shape):
    """At s = 8, the factor the CUDA kernel runs the group path for."""
    logits = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(host.semantic_upsample_argmax(logits, 8, path="group"),
                                  host.semantic_upsample_argmax(logits, 8, path="pixel"))


@pytest.mark.parametrize("scale", [4, 2])
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 2, 1, 2), (1, 4, 2, 1), (1, 3, 2, 2), (1, 3, 3, 3),
                                   (2, 5, 3, 7), (1, 4, 6, 2), (1, 2, 9, 4)])
def test_block_path_interior_and_perimeter(host, shape, scale):
    """Blocks of interior cells (3 x 3 reads) and of the perimeter (per-pixel path) tile the output exactly."""
    logits = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    labels, scores = host.semantic_upsample_argmax(logits, scale, with_score=True, path="block")
    ref_labels, ref_scores = host.semantic_upsample_argmax(logits, scale, with_score=True, path="pixel")
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(scores, ref_scores)


def test_block_path_propagates_nan_and_inf_like_the_pixel_path(host):
    """Inside the map no tap weight is 0, so non-finite logits reach the same pixels on both paths."""
    logits = np.random.default_rng(3).standard_normal((1, 6, 8, 9)).astype(np.float32)
    logits[0, 2, 4, 4] = np.nan
    logits[0, 3, 1, 6] = np.inf
    logits[0, 1, 0, 0] = -np.inf
    labels, scores = host.semantic_upsample_argmax(logits, 4, with_score=True, path="block")
    ref_labels, ref_scores = host.semantic_upsample_argmax(logits, 4, with_score=True, path="pixel")
    assert np.isnan(scores).any() and np.isinf(scores).any()
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(scores, ref_scores)


def test_fp16_logits_are_computed_in_fp32(host):
    logits = torch.randn(1, 6, 8, 8).half()
    labels = host.semantic_upsample_argmax(logits)
    _assert_equal_except_near_ties(labels, logits.float(), 4)


def test_user_errors(host):
    with pytest.raises(TrtPanopticError, match="logits should be"):
        host.semantic_upsample_argmax(np.zeros((3, 4, 5), np.float32))
    with pytest.raises(TrtPanopticError, match="scale_factor"):
        host.semantic_upsample_argmax(np.zeros((1, 2, 3, 4), np.float32), scale_factor=0)
    empty = host.semantic_upsample_argmax(np.zeros((0, 2, 3, 4), np.float32))
    assert empty.shape == (0, 12, 16)
