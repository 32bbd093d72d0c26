import math

import torch

from trt_panoptic.postprocess import paste_masks_in_image


def paste_reference(prob, box, h, w, thr=0.5):
    """Per-pixel float64 loop: pixel centre → mask coordinates, bilinear with zero padding outside."""
    m = prob.shape[0]
    x0, y0, x1, y1 = box
    out = torch.zeros(h, w, dtype=torch.bool)
    for y in range(h):
        for x in range(w):
            u = (x + 0.5 - x0) / (x1 - x0) * m - 0.5
            v = (y + 0.5 - y0) / (y1 - y0) * m - 0.5
            iu, iv = math.floor(u), math.floor(v)
            val = 0.0
            for dy in (0, 1):
                for dx in (0, 1):
                    yy, xx = iv + dy, iu + dx
                    if 0 <= yy < m and 0 <= xx < m:
                        wgt = (1 - abs(v - yy)) * (1 - abs(u - xx))
                        val += wgt * float(prob[yy, xx])
            out[y, x] = val >= thr
    return out


def test_paste_matches_per_pixel_reference():
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 28, 28, generator=gen)
    boxes = torch.tensor([[3.2, 4.7, 20.1, 30.0], [0.0, 0.0, 40.0, 36.0], [30.5, 20.25, 39.9, 35.5]])
    got = paste_masks_in_image(probs, boxes, (36, 40))
    for i in range(3):
        assert torch.equal(got[i], paste_reference(probs[i].double(), boxes[i].tolist(), 36, 40))


def test_full_mask_fills_its_integer_box():
    got = paste_masks_in_image(torch.ones(1, 28, 28), torch.tensor([[4.0, 2.0, 12.0, 10.0]]), (16, 16))
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[2:10, 4:12] = True
    assert torch.equal(got[0], expected)
