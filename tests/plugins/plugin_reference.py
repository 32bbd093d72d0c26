"""Independent float64 references for the plugin tests: plain loops over the official rules."""
from __future__ import annotations

import math

import numpy as np


def fpn_level(box: np.ndarray, canonical_box_size: int = 224, canonical_level: int = 4) -> int:
    """detectron2's assign_boxes_to_levels for one box, in FP32 as detectron2 computes it (levels 2..5)."""
    f32 = np.float32
    area = (f32(box[2]) - f32(box[0])) * (f32(box[3]) - f32(box[1]))
    size = np.sqrt(max(area, f32(0)))
    level = np.floor(f32(canonical_level) + np.log2(size / f32(canonical_box_size) + f32(1e-8)))
    return int(min(max(level, 2), 5))


def _bilinear(plane: np.ndarray, y: float, x: float) -> float:
    """torchvision's bilinear_interpolate, float64."""
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * plane[y_low, x_low] + hy * lx * plane[y_low, x_high]
            + ly * hx * plane[y_high, x_low] + ly * lx * plane[y_high, x_high])


def roi_align_fpn_reference(
    rois: np.ndarray, features: list[np.ndarray], output_size: int, sampling_ratio: int = 0, aligned: bool = True
) -> np.ndarray:
    """Multi-level RoIAlign, one sample at a time in float64: rois [R, 5] (batch, x1, y1, x2, y2)."""
    feats = [f.astype(np.float64) for f in features]
    channels = feats[0].shape[1]
    out = np.zeros((len(rois), channels, output_size, output_size))
    offset = 0.5 if aligned else 0.0
    for r, (b, x1, y1, x2, y2) in enumerate(rois.astype(np.float64)):
        level = fpn_level(np.array([x1, y1, x2, y2]))
        fmap = feats[level - 2][int(b)]
        scale = 1.0 / 2 ** level
        sx, sy = x1 * scale - offset, y1 * scale - offset
        roi_w, roi_h = x2 * scale - offset - sx, y2 * scale - offset - sy
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_w, bin_h = roi_w / output_size, roi_h / output_size
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / output_size)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / output_size)
        count = max(gh * gw, 1)
        for ph in range(output_size):
            for pw in range(output_size):
                for iy in range(max(gh, 0)):
                    y = sy + ph * bin_h + (iy + 0.5) * bin_h / gh
                    for ix in range(max(gw, 0)):
                        x = sx + pw * bin_w + (ix + 0.5) * bin_w / gw
                        for c in range(channels):
                            out[r, c, ph, pw] += _bilinear(fmap[c], y, x)
                out[r, :, ph, pw] /= count
    return out
