"""Semantic mIoU from a confusion matrix, checked against per-class pixel counting."""
from __future__ import annotations

import numpy as np
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.evaluation import SemSegEvaluator, mean_iou


def test_hand_computed_two_classes_with_ignore():
    gt = np.array([[0, 0, 1, 1, 255]])
    pred = np.array([[0, 1, 1, 1, 0]])  # the ignored pixel's prediction does not count
    # class 0: tp 1, union 2 → 50 %; class 1: tp 2, union 3 → 66.7 %
    ev = SemSegEvaluator(num_classes=3)
    ev.add(pred, gt)
    r = ev.results()
    assert r["IoU"][0] == pytest.approx(50.0) and r["IoU"][1] == pytest.approx(200 / 3)
    assert r["IoU"][2] is None  # absent from both: not in the mean
    assert r["mIoU"] == pytest.approx((50 + 200 / 3) / 2)
    assert r["pACC"] == pytest.approx(75.0)


def test_matches_pixel_counting_over_several_images():
    rng = np.random.default_rng(1)
    preds = [rng.integers(0, 5, (6, 7)) for _ in range(3)]
    gts = [np.where(rng.random((6, 7)) < 0.1, 255, rng.integers(0, 5, (6, 7))) for _ in range(3)]
    p, g = np.concatenate([x.ravel() for x in preds]), np.concatenate([x.ravel() for x in gts])
    keep = g != 255
    ious = []
    for c in range(5):
        inter = np.sum((p == c) & (g == c) & keep)
        union = np.sum(((p == c) | (g == c)) & keep)
        ious.append(100.0 * inter / union)
    assert mean_iou(preds, gts, num_classes=5) == pytest.approx(np.mean(ious))


def test_out_of_range_label_is_an_error():
    with pytest.raises(TrtPanopticError, match="0..2"):
        SemSegEvaluator(3).add(np.array([[3]]), np.array([[0]]))
