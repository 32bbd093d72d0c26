"""Calibration thresholds on distributions whose answer is known by hand."""
import math

import numpy as np
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.quantization.methods import (
    TensorStats, compute_amax, entropy_amax, entropy_divergences, mse_amax, percentile_amax,
)


def test_minmax_is_the_absolute_maximum():
    stats = TensorStats(absmax=7.25, hist=np.ones(2048), hist_max=7.25)
    assert compute_amax(stats, "minmax") == 7.25


def test_percentile_on_a_uniform_histogram():
    hist = np.ones(2048)  # uniform over [0, 4]: the p-th percentile is p/100 · 4
    assert percentile_amax(hist, 4.0, 50.0) == pytest.approx(2.0)
    assert percentile_amax(hist, 4.0, 100.0) == pytest.approx(4.0)
    # 99.99 % of 2048 bins = 2047.8 bins → the CDF first reaches it in the last bin
    assert percentile_amax(hist, 4.0, 99.99) == pytest.approx(4.0)
    # 99.9 % = 2045.95 bins → first reached by the CDF (k+1)/2048 at k+1 = 2046: upper edge 2046·w
    assert percentile_amax(hist, 4.0, 99.9) == pytest.approx(2046 * 4.0 / 2048)


def test_percentile_clips_a_rare_outlier():
    hist = np.zeros(2048)
    hist[:100] = 1000.0  # 100 000 values in [0, 100·w)
    hist[2047] = 1.0  # one outlier at the top
    assert percentile_amax(hist, 2048.0, 99.99) == pytest.approx(100.0)


def test_percentile_out_of_range_is_a_user_error():
    with pytest.raises(TrtPanopticError, match="percentile should be in"):
        percentile_amax(np.ones(8), 1.0, 0.0)


def test_entropy_divergences_hand_computed():
    # 4 bins of width 1, 2 quantized levels, candidates i = 2, 3, 4 (see the module doc for P and Q)
    hist = np.array([6.0, 2.0, 1.0, 1.0])
    cands, divs = entropy_divergences(hist, num_levels=2, ignore_zero_bin=False)
    assert list(cands) == [2, 3, 4]
    # i=2: P = [6, 2+2]/10, Q = [6, 2]/8          → .6 ln(.6/.75) + .4 ln(.4/.25)
    # i=3: P = [6, 2, 1+1]/10, Q = [4, 4, 1]/9    → .6 ln(.6/(4/9)) + .2 ln(.2/(4/9)) + .2 ln(.2/(1/9))
    # i=4: P = [6, 2, 1, 1]/10, Q = [4, 4, 1, 1]/10 → .6 ln(.6/.4) + .2 ln(.2/.4)
    expected = [
        0.6 * math.log(0.6 / 0.75) + 0.4 * math.log(0.4 / 0.25),
        0.6 * math.log(0.6 / (4 / 9)) + 0.2 * math.log(0.2 / (4 / 9)) + 0.2 * math.log(0.2 / (1 / 9)),
        0.6 * math.log(0.6 / 0.4) + 0.2 * math.log(0.2 / 0.4),
    ]
    np.testing.assert_allclose(divs, expected, rtol=1e-12)
    assert entropy_amax(hist, 4.0, num_levels=2, ignore_zero_bin=False) == pytest.approx(2.0)  # argmin i = 2


def test_entropy_keeps_everything_of_a_uniform_distribution():
    # every 16 bins merge into one level of equal counts: Q = P exactly at i = 2048, KL = 0
    assert entropy_amax(np.ones(2048), 3.0) == pytest.approx(3.0)


def test_entropy_ignores_rare_far_outliers():
    rng = np.random.default_rng(0)
    x = np.abs(np.concatenate([rng.standard_normal(1_000_000), np.full(10, 50.0)]))  # 10 outliers at 50σ
    hist, _ = np.histogram(x, bins=2048, range=(0, x.max()))
    amax = entropy_amax(hist, x.max())
    # the 128 levels go to the Gaussian bulk (max of 1e6 normals ≈ 4.7σ), not to the outliers
    assert 3.5 < amax < 6.0


def test_mse_matches_a_float64_loop():
    rng = np.random.default_rng(1)
    x = np.abs(rng.laplace(size=200_000))
    hist_max = float(x.max())
    hist, _ = np.histogram(x, bins=256, range=(0, hist_max))
    w = hist_max / 256
    best, best_err = None, float("inf")
    for i in range(128, 257):  # naive reference: loop over candidates and bins
        amax = i * w
        scale = amax / 127
        err = 0.0
        for j in range(256):
            c = (j + 0.5) * w
            q = min(round(c / scale), 127) * scale
            err += hist[j] * (c - q) ** 2
        if err < best_err:
            best, best_err = amax, err
    assert mse_amax(hist, hist_max) == pytest.approx(best)
    assert best < hist_max  # the heavy tail is clipped


def test_unknown_method_suggests_the_closest():
    with pytest.raises(TrtPanopticError, match="did you mean 'entropy'"):
        compute_amax(TensorStats(1.0), "entropie")
