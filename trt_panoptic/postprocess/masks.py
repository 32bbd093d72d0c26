"""Pasting fixed-size RoI mask probabilities into the image (Mask R-CNN inference)."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


def paste_masks_in_image(mask_probs: Tensor, boxes: Tensor, image_size: tuple[int, int], threshold: float = 0.5) -> Tensor:
    """Resample each M×M mask into its box on the image grid and threshold it.

    Each image pixel centre (x + 0.5, y + 0.5) is mapped into the box's normalised coordinates and the mask
    is sampled bilinearly (zero outside), so a mask's pixel i covers box fraction [i/M, (i+1)/M).

    Args:
        mask_probs: Tensor[N, M, M] probabilities.
        boxes: Tensor[N, 4] XYXY image pixels.
        image_size: (H, W).
        threshold: probability at or above which a pixel belongs to the mask.

    Returns:
        Tensor[N, H, W] bool.
    """
    h, w = image_size
    n = mask_probs.shape[0]
    out = torch.zeros((n, h, w), dtype=torch.bool, device=mask_probs.device)
    # One box at a time over its own window keeps memory at O(box area), not O(N·H·W).
    for i in range(n):
        x0, y0, x1, y1 = boxes[i].tolist()
        xs, ys = max(math.floor(x0) - 1, 0), max(math.floor(y0) - 1, 0)
        xe, ye = min(math.ceil(x1) + 1, w), min(math.ceil(y1) + 1, h)
        if xe <= xs or ye <= ys:
            continue
        gx = (torch.arange(xs, xe, dtype=torch.float32, device=mask_probs.device) + 0.5 - x0) / (x1 - x0) * 2 - 1
        gy = (torch.arange(ys, ye, dtype=torch.float32, device=mask_probs.device) + 0.5 - y0) / (y1 - y0) * 2 - 1
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]
        window = F.grid_sample(mask_probs[i][None, None].float(), grid, mode="bilinear", align_corners=False)[0, 0]
        out[i, ys:ye, xs:xe] = window >= threshold
    return out
