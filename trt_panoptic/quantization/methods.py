"""Calibration methods: the clipping threshold ``amax`` of one activation tensor from its statistics.

Every method works on the histogram of ``|x|`` that :mod:`trt_panoptic.quantization.stats` collects:
``hist`` (counts, ``num_bins`` long) over ``[0, hist_max]``, bin ``j`` covering ``[j·w, (j+1)·w)`` with
``w = hist_max / num_bins``. Quantization is symmetric INT8, ``scale = amax / 127``.

- ``minmax``: ``amax = max |x|`` (nothing clipped; one outlier stretches the grid for every value).
- ``percentile``: the upper edge of the first bin at which the CDF of ``|x|`` reaches ``p`` percent.
- ``entropy``: TensorRT's entropy calibrator as NVIDIA described it (Migacz, "8-bit Inference with
  TensorRT", GTC 2017): for every candidate number of kept bins ``i`` (from 128 to 2048) the reference
  distribution P is the first ``i`` bins with all clipped mass added to bin ``i-1``; the candidate Q
  merges those ``i`` bins (without the clipped mass) into 128 levels and spreads each level's mass
  uniformly back over its non-empty bins; the ``i`` that minimizes KL(P‖Q) gives ``amax = i·w``.
- ``mse``: the candidate ``amax = i·w`` minimizing the expected squared error of fake-quantizing the
  histogram's bin centres (clipping error included).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from trt_panoptic.errors import TrtPanopticError

METHODS = ("minmax", "percentile", "entropy", "mse")
#: INT8 symmetric range: scale = amax / 127.
QMAX = 127


@dataclass
class TensorStats:
    """What calibration saw of one tensor.

    Attributes:
        absmax: max |x| over all calibration images.
        hist: float64 [num_bins] counts of |x| over [0, hist_max]; None when only absmax was collected.
        hist_max: upper end of the histogram range (the absmax of the first pass).
    """

    absmax: float
    hist: np.ndarray | None = None
    hist_max: float = 0.0


def check_method(method: str) -> str:
    """Return ``method`` if known, else raise a one-line error with the closest name."""
    if method in METHODS:
        return method
    close = difflib.get_close_matches(str(method), METHODS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "use one of them"
    raise TrtPanopticError(f"--method should be one of {', '.join(METHODS)}, got {method!r} — {hint}")


def _bin_width(hist: np.ndarray, hist_max: float) -> float:
    return float(hist_max) / len(hist)


def percentile_amax(hist: np.ndarray, hist_max: float, percentile: float = 99.99) -> float:
    """Upper edge of the first bin where the CDF of |x| reaches ``percentile`` (in percent, 0 < p ≤ 100)."""
    if not 0.0 < percentile <= 100.0:
        raise TrtPanopticError(f"percentile should be in (0, 100], got {percentile} — e.g. 99.99")
    h = np.asarray(hist, np.float64)
    total = h.sum()
    if total <= 0:
        return 0.0
    cdf = np.cumsum(h) / total
    # tolerance: 99.99 % of a count sum is not exactly representable; a bin that reaches it within
    # rounding counts as reaching it
    k = int(np.searchsorted(cdf, percentile / 100.0 - 1e-12, side="left"))
    k = min(k, len(h) - 1)
    return (k + 1) * _bin_width(h, hist_max)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p‖q) of two unnormalized histograms; inf where q has no mass under p's."""
    p = p / p.sum()
    qs = q.sum()
    if qs <= 0:
        return float("inf")
    q = q / qs
    nz = p > 0
    if np.any(q[nz] <= 0):
        return float("inf")
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def entropy_divergences(
    hist: np.ndarray, num_levels: int = 128, start_bin: int | None = None, ignore_zero_bin: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """KL(P‖Q) of every candidate number of kept bins ``i`` (see the module doc).

    Bins ``0..i-1`` are merged into ``num_levels`` levels by ``level(j) = floor(j · num_levels / i)``.

    Args:
        hist: [num_bins] counts of |x|.
        start_bin: smallest candidate ``i`` (default ``num_levels``: fewer bins than levels loses nothing).
        ignore_zero_bin: replace bin 0's count by bin 1's, as NVIDIA's pytorch-quantization does, so the
            spike of exact zeros after a ReLU does not dominate the divergence.

    Returns:
        (candidates int [K], divergences float64 [K]).
    """
    h = np.asarray(hist, np.float64).copy()
    n = len(h)
    if ignore_zero_bin and n > 1:
        h[0] = h[1]
    start = num_levels if start_bin is None else int(start_bin)
    start = max(1, min(start, n))
    tail = np.concatenate([np.cumsum(h[::-1])[::-1], [0.0]])  # tail[i] = sum(h[i:])
    cands = np.arange(start, n + 1)
    divs = np.empty(len(cands), np.float64)
    for c, i in enumerate(cands):
        kept = h[:i]
        p = kept.copy()
        p[i - 1] += tail[i]  # clipped mass lands in the last kept bin
        level = (np.arange(i) * num_levels) // i
        nonzero = (kept > 0).astype(np.float64)
        level_sum = np.bincount(level, weights=kept, minlength=num_levels)
        level_nz = np.bincount(level, weights=nonzero, minlength=num_levels)
        per_bin = np.divide(level_sum, level_nz, out=np.zeros_like(level_sum), where=level_nz > 0)
        q = per_bin[level] * nonzero
        divs[c] = _kl(p, q) if p.sum() > 0 else float("inf")
    return cands, divs


def entropy_amax(hist: np.ndarray, hist_max: float, num_levels: int = 128, ignore_zero_bin: bool = True) -> float:
    """``amax = i·w`` for the ``i`` minimizing KL(P‖Q); ties go to the larger ``i`` (clip less)."""
    h = np.asarray(hist, np.float64)
    if h.sum() <= 0:
        return 0.0
    cands, divs = entropy_divergences(h, num_levels, ignore_zero_bin=ignore_zero_bin)
    if not np.isfinite(divs).any():
        return float(hist_max)
    best = np.nanmin(divs)
    i = int(cands[np.flatnonzero(divs <= best)[-1]])
    return i * _bin_width(h, hist_max)


def mse_amax(hist: np.ndarray, hist_max: float, start_bin: int = 128) -> float:
    """``amax = i·w`` minimizing Σ_j hist_j (c_j − fq(c_j))² over bin centres c_j, fq = INT8 fake-quant."""
    h = np.asarray(hist, np.float64)
    n = len(h)
    if h.sum() <= 0:
        return 0.0
    w = _bin_width(h, hist_max)
    nz = h > 0  # empty bins add no error
    centers, counts = (np.arange(n) + 0.5)[nz] * w, h[nz]
    cands = np.arange(max(1, min(start_bin, n)), n + 1)
    err = np.empty(len(cands))
    for s in range(0, len(cands), 256):  # blocks of candidates keep the [candidates, bins] array small
        amax = cands[s:s + 256, None] * w
        scale = amax / QMAX
        d = centers[None, :] - np.minimum(np.rint(centers[None, :] / scale), QMAX) * scale
        err[s:s + 256] = (d * d) @ counts
    return float(cands[int(np.argmin(err))] * w)


def compute_amax(stats: TensorStats, method: str, *, percentile: float = 99.99) -> float:
    """The clipping threshold of one tensor by ``method`` (one of :data:`METHODS`), in the tensor's units."""
    check_method(method)
    if method == "minmax" or stats.absmax <= 0:
        return float(stats.absmax)
    if stats.hist is None:
        raise TrtPanopticError(f"method {method!r} should have histograms, got absmax only — collect with histograms")
    if method == "percentile":
        return percentile_amax(stats.hist, stats.hist_max, percentile)
    if method == "entropy":
        return entropy_amax(stats.hist, stats.hist_max)
    return mse_amax(stats.hist, stats.hist_max)


def needs_histogram(method: str) -> bool:
    """Whether ``method`` needs the second (histogram) pass over the calibration data."""
    return check_method(method) != "minmax"
