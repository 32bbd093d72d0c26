"""RoIAlign by its definition (torchvision's, one sample at a time, in float64): the reference that the
model's ``ops.roi_align`` (tests/ops) and the RoIAlignFPN plugin's host build (tests/plugins) are held to."""
from __future__ import annotations

import math

import torch


def _bilinear_ref(fm, y, x):
    h, w = fm.shape[-2:]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return torch.zeros(fm.shape[0], dtype=torch.float64)
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * fm[:, y0, x0] + (1 - ly) * lx * fm[:, y0, x1]
            + ly * (1 - lx) * fm[:, y1, x0] + ly * lx * fm[:, y1, x1])


def roi_align_ref(inp, rois, out_size, scale, sampling_ratio, aligned):
    """One RoI, one bin, one sample at a time, in float64."""
    inp = inp.double()
    out = torch.zeros(rois.shape[0], inp.shape[1], out_size, out_size, dtype=torch.float64)
    off = 0.5 if aligned else 0.0
    for r, (b, x1, y1, x2, y2) in enumerate(rois.double().tolist()):
        sw, sh = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sw, y2 * scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / out_size, rw / out_size
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / out_size)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / out_size)
        count = max(gh * gw, 1)
        for py in range(out_size):
            for px in range(out_size):
                acc = torch.zeros(inp.shape[1], dtype=torch.float64)
                for iy in range(max(gh, 0)):
                    y = sh + py * bh + (iy + 0.5) * bh / gh
                    for ix in range(max(gw, 0)):
                        x = sw + px * bw + (ix + 0.5) * bw / gw
                        acc += _bilinear_ref(inp[int(b)], y, x)
                out[r, :, py, px] = acc / count
    return out
