"""RoIAlign in pure PyTorch with torchvision's signature and semantics, vectorized over RoIs.

The math follows torchvision's CPU kernel (Mask R-CNN, He et al. 2017, with the half-pixel correction of
``aligned=True``): each output bin averages ``grid_h × grid_w`` bilinear samples; a sample that falls outside
``[-1, H] × [-1, W]`` contributes 0 but still counts in the average; with ``sampling_ratio <= 0`` the grid is
adaptive, ``ceil(roi_size / output_size)`` per RoI.
"""
from __future__ import annotations

import torch
from torch import Tensor

# Upper bound on the number of sampled points gathered at once, to keep memory flat for huge RoIs.
_MAX_POINTS_PER_CHUNK = 1 << 22


def convert_boxes_to_roi_format(boxes: Tensor | list[Tensor]) -> Tensor:
    """``list[Tensor[L_i, 4]]`` (one per image) → ``Tensor[K, 5]`` with the batch index in column 0."""
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"roi_align: boxes should be Tensor[K, 5] or list of Tensor[L, 4], got {tuple(boxes.shape)}")
        return boxes
    parts = []
    for i, b in enumerate(boxes):
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(f"roi_align: boxes[{i}] should be Tensor[L, 4], got {tuple(b.shape)}")
        parts.append(torch.cat([torch.full_like(b[:, :1], i), b], dim=1))
    if not parts:
        return torch.zeros((0, 5))
    return torch.cat(parts, dim=0)


def roi_align(
    input: Tensor,
    boxes: Tensor | list[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """Pool each box of ``boxes`` from ``input`` into a fixed ``output_size`` grid.

    Args:
        input: Tensor[N, C, H, W] feature map.
        boxes: Tensor[K, 5] (batch index, x1, y1, x2, y2) or a list of N Tensor[L, 4] (x1, y1, x2, y2),
            in input-image pixels (multiplied by ``spatial_scale`` to reach feature-map pixels).
        output_size: (P_h, P_w) or P.
        spatial_scale: feature-map pixels per input pixel, e.g. 1/4 for stride 4.
        sampling_ratio: samples per bin along each axis; <= 0 means adaptive ``ceil(roi / output)``.
        aligned: shift box coordinates by -0.5 pixel (half-pixel correction, detectron2's ROIAlignV2).

    Returns:
        Tensor[K, C, P_h, P_w].
    """
    if input.dim() != 4:
        raise ValueError(f"roi_align: input should be Tensor[N, C, H, W], got shape {tuple(input.shape)}")
    rois = convert_boxes_to_roi_format(boxes).to(dtype=input.dtype, device=input.device)
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    num_rois = rois.shape[0]
    channels = input.shape[1]
    if num_rois == 0:
        return input.new_zeros((0, channels, ph, pw))

    offset = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * spatial_scale - offset
    start_h = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - start_w
    roi_h = rois[:, 4] * spatial_scale - offset - start_h
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / ph
    bin_w = roi_w / pw
    if sampling_ratio > 0:
        grid_h = torch.full((num_rois,), sampling_ratio, dtype=torch.long, device=input.device)
        grid_w = grid_h.clone()
    else:
        grid_h = torch.ceil(roi_h / ph).long()
        grid_w = torch.ceil(roi_w / pw).long()
    # torchvision divides by max(gh*gw, 1) but only samples when both counts are positive.
    count = (grid_h * grid_w).clamp(min=1).to(input.dtype)
    grid_h = grid_h.clamp(min=0)
    grid_w = grid_w.clamp(min=0)

    out = input.new_zeros((num_rois, channels, ph, pw))
    # RoIs with similar grids are processed together; chunking bounds memory for very large RoIs.
    per_roi = (grid_h * grid_w).clamp(min=1) * ph * pw
    order = torch.argsort(per_roi)
    start = 0
    while start < num_rois:
        size = int(per_roi[order[start]])
        end = start + 1
        budget = max(_MAX_POINTS_PER_CHUNK // max(channels, 1), size)
        while end < num_rois and int(per_roi[order[end]]) * (end - start + 1) <= budget:
            end += 1
        idx = order[start:end]
        out[idx] = _pool_chunk(
            input, rois[idx, 0].long(), start_h[idx], start_w[idx], bin_h[idx], bin_w[idx],
            grid_h[idx], grid_w[idx], count[idx], ph, pw,
        )
        start = end
    return out


def _pool_chunk(
    input: Tensor, batch: Tensor, start_h: Tensor, start_w: Tensor, bin_h: Tensor, bin_w: Tensor,
    grid_h: Tensor, grid_w: Tensor, count: Tensor, ph: int, pw: int,
) -> Tensor:
    """Pool RoIs whose grids fit one allocation: samples padded to the chunk's largest grid, then masked."""
    n = batch.shape[0]
    gh_max = max(int(grid_h.max()), 1)
    gw_max = max(int(grid_w.max()), 1)
    dtype, device = input.dtype, input.device
    iy = torch.arange(gh_max, device=device, dtype=dtype)
    ix = torch.arange(gw_max, device=device, dtype=dtype)
    py = torch.arange(ph, device=device, dtype=dtype)
    px = torch.arange(pw, device=device, dtype=dtype)
    gh = grid_h.to(dtype).clamp(min=1)
    gw = grid_w.to(dtype).clamp(min=1)
    # y[n, p, i] = start + p*bin + (i + .5) * bin / grid   — same operation order as torchvision.
    y = start_h[:, None, None] + py[None, :, None] * bin_h[:, None, None] + (iy[None, None, :] + 0.5) * bin_h[:, None, None] / gh[:, None, None]
    x = start_w[:, None, None] + px[None, :, None] * bin_w[:, None, None] + (ix[None, None, :] + 0.5) * bin_w[:, None, None] / gw[:, None, None]
    valid_y = iy[None, :] < grid_h[:, None]  # [n, gh_max]
    valid_x = ix[None, :] < grid_w[:, None]
    vals = _bilinear(input, batch, y, x)  # [n, C, ph, gh, pw, gw]
    mask = (valid_y[:, None, None, :, None, None] & valid_x[:, None, None, None, None, :]).to(dtype)
    summed = (vals * mask).sum(dim=(3, 5))
    return summed / count[:, None, None, None]


def _bilinear(input: Tensor, batch: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Bilinear samples at every (y[n,p,i], x[n,q,j]) → Tensor[n, C, P_h, G_h, P_w, G_w]."""
    height, width = input.shape[-2:]
    channels = input.shape[1]
    n, ph, gh = y.shape
    _, pw, gw = x.shape
    y_out = (y < -1.0) | (y > height)
    x_out = (x < -1.0) | (x > width)
    y = y.clamp(min=0)
    x = x.clamp(min=0)
    y_low = y.floor().long()
    x_low = x.floor().long()
    y_clip = y_low >= height - 1
    x_clip = x_low >= width - 1
    y_low = torch.where(y_clip, torch.full_like(y_low, height - 1), y_low)
    x_low = torch.where(x_clip, torch.full_like(x_low, width - 1), x_low)
    y_high = torch.where(y_clip, y_low, y_low + 1)
    x_high = torch.where(x_clip, x_low, x_low + 1)
    y = torch.where(y_clip, y_low.to(y.dtype), y)
    x = torch.where(x_clip, x_low.to(x.dtype), x)
    ly = y - y_low
    lx = x - x_low
    hy = 1.0 - ly
    hx = 1.0 - lx
    ly = ly.masked_fill(y_out, 0.0)
    hy = hy.masked_fill(y_out, 0.0)
    lx = lx.masked_fill(x_out, 0.0)
    hx = hx.masked_fill(x_out, 0.0)

    flat = input.flatten(2)  # [N, C, H*W]
    feats = flat[batch]  # [n, C, H*W]

    def gather(yi: Tensor, xi: Tensor) -> Tensor:
        index = (yi[:, :, :, None, None] * width + xi[:, None, None, :, :]).reshape(n, 1, -1)
        return torch.gather(feats, 2, index.expand(n, channels, index.shape[-1])).view(n, channels, ph, gh, pw, gw)

    wy_l = hy[:, None, :, :, None, None]
    wy_h = ly[:, None, :, :, None, None]
    wx_l = hx[:, None, None, None, :, :]
    wx_h = lx[:, None, None, None, :, :]
    return (
        wy_l * wx_l * gather(y_low, x_low)
        + wy_l * wx_h * gather(y_low, x_high)
        + wy_h * wx_l * gather(y_high, x_low)
        + wy_h * wx_h * gather(y_high, x_high)
    )

