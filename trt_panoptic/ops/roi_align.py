"""RoIAlign in pure PyTorch with torchvision's signature and semantics, vectorized over RoIs.

The math follows torchvision's CPU kernel (Mask R-CNN, He et al. 2017, with the half-pixel correction of
``aligned=True``): each output bin averages ``grid_h × grid_w`` bilinear samples; a sample that falls outside
``[-1, H] × [-1, W]`` contributes 0 but still counts in the average; with ``sampling_ratio <= 0`` the grid is
adaptive, ``ceil(roi_size / output_size)`` per RoI.
"""
from __future__ import annotations

import torch
from torch import Tensor

# Upper bound on the feature values (window pixels × channels) gathered at once, to keep memory flat for huge RoIs.
_MAX_WINDOW_VALUES_PER_CHUNK = 1 << 22


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

    start_h, start_w, roi_h, roi_w, grid_h, grid_w = roi_geometry(rois, spatial_scale, sampling_ratio, aligned, ph, pw)
    bin_h = roi_h / ph
    bin_w = roi_w / pw
    # torchvision divides by max(gh*gw, 1) but only samples when both counts are positive.
    count = (grid_h * grid_w).clamp(min=1).to(input.dtype)
    grid_h = grid_h.clamp(min=0)
    grid_w = grid_w.clamp(min=0)

    # Bilinear weights are separable (w = wy·wx), so every output bin is Ay · F · Axᵀ with Ay [P_h, rows] and
    # Ax [P_w, cols] summing the per-sample weights over the RoI's window of the map: a few small matmuls
    # per RoI instead of 4 gathers per sample and channel.
    ay, y0, rows = _axis_weights(start_h, bin_h, grid_h, ph, input.shape[-2])
    ax, x0, cols = _axis_weights(start_w, bin_w, grid_w, pw, input.shape[-1])
    ay = ay / count[:, None, None]
    out = input.new_zeros((num_rois, channels, ph, pw))
    batch = rois[:, 0].long()
    # Channels-last once, so each window row is one contiguous read of C values.
    input_hwc = input.permute(0, 2, 3, 1).contiguous()
    order = torch.argsort(rows * cols)
    window_sizes = (rows * cols)[order].tolist()
    start = 0
    while start < num_rois:
        end = start + 1
        while end < num_rois and window_sizes[end] * (end - start + 1) * channels <= _MAX_WINDOW_VALUES_PER_CHUNK:
            end += 1
        idx = order[start:end]
        out[idx] = _pool_window(input_hwc, batch[idx], ay[idx], ax[idx], y0[idx], x0[idx], int(rows[idx].max()), int(cols[idx].max()))
        start = end
    return out

def roi_geometry(rois: Tensor, scale: float | Tensor, sampling_ratio: int, aligned: bool, ph: int,
                 pw: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Where each RoI of Tensor[K, 5] starts on the map and how many samples per bin it takes, torchvision's way.

    ``scale``: feature pixels per input pixel (a number, or Tensor[K] when RoIs sit on different levels).
    Returns (start_h, start_w, roi_h, roi_w in feature pixels, grid_h, grid_w int64 samples per bin side; the
    adaptive grid ``ceil(roi / bins)`` when ``sampling_ratio <= 0``).
    """
    offset = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * scale - offset
    start_h = rois[:, 2] * scale - offset
    roi_w = rois[:, 3] * scale - offset - start_w
    roi_h = rois[:, 4] * scale - offset - start_h
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = torch.full(roi_h.shape, sampling_ratio, dtype=torch.long, device=rois.device)
        return start_h, start_w, roi_h, roi_w, grid_h, grid_h.clone()
    return start_h, start_w, roi_h, roi_w, torch.ceil(roi_h / ph).long(), torch.ceil(roi_w / pw).long()


def _axis_weights(
    start: Tensor, bin_size: Tensor, grid: Tensor, pooled: int, size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-RoI interpolation matrix along one axis, summed over that axis' samples of each bin.

    Returns (weights Tensor[K, pooled, size] — only columns ``first .. first + extent`` are non-zero,
    shifted so column 0 is ``first``; first Tensor[K] int64; extent Tensor[K] int64).
    """
    sizes = torch.full_like(grid, size)
    return axis_weights(start, bin_size, grid, pooled, sizes, max(int(grid.max()), 1))


def axis_weights(start: Tensor, bin_size: Tensor, grid: Tensor, pooled: int, size: Tensor, g_max: int,
                 side: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-RoI bilinear weights along one axis, summed over the samples of each bin, over a window of lines.

    Args:
        start, bin_size: Tensor[K] in feature pixels; grid: Tensor[K] int64 samples per bin (>= 0).
        size: Tensor[K] int64, the map's length along this axis for each RoI.
        g_max: samples enumerated per bin (static; samples beyond a RoI's ``grid`` weigh 0).
        side: window length (static); None = the largest extent (read on the host).

    Returns:
        (weights Tensor[K, pooled, side], window line 0 being ``first``; first Tensor[K] int64; extent
        Tensor[K] int64, the lines the RoI's samples touch — the weights are complete where extent <= side).
    """
    dtype, device = start.dtype, start.device
    g = torch.arange(g_max, device=device, dtype=dtype)
    p = torch.arange(pooled, device=device, dtype=dtype)
    gsafe = grid.clamp(min=1).to(dtype)
    # Sample position, same operation order as torchvision: start + p*bin + (i + .5) * bin / grid.
    pos = start[:, None, None] + p[None, :, None] * bin_size[:, None, None] + (g[None, None, :] + 0.5) * bin_size[:, None, None] / gsafe[:, None, None]
    limit = size[:, None, None]
    valid = (g[None, None, :] < grid[:, None, None]) & (pos >= -1.0) & (pos <= limit.to(dtype))
    pos = pos.clamp(min=0)
    low = pos.floor().long()
    clip = low >= limit - 1
    low = torch.where(clip, limit - 1, low)
    high = torch.where(clip, low, low + 1)
    pos = torch.where(clip, low.to(dtype), pos)
    frac = pos - low
    w_low = (1.0 - frac) * valid
    w_high = frac * valid
    first = torch.minimum(torch.where(valid, low, limit).flatten(1).min(dim=1).values, size - 1)
    last = torch.where(valid, high, torch.zeros_like(high)).flatten(1).max(dim=1).values
    extent = (last - first + 1).clamp(min=1)
    width = int(extent.max()) if side is None else side
    weights = torch.zeros((start.shape[0], pooled, width), dtype=dtype, device=device)
    weights.scatter_add_(2, (low - first[:, None, None]).clamp(0, width - 1), w_low)
    weights.scatter_add_(2, (high - first[:, None, None]).clamp(0, width - 1), w_high)
    return weights, first, extent


def _pool_window(
    input_hwc: Tensor, batch: Tensor, ay: Tensor, ax: Tensor, y0: Tensor, x0: Tensor, rows: int, cols: int
) -> Tensor:
    """Crop each RoI's window (rows × cols from (y0, x0)) of the [N, H, W, C] map and contract it with Ay
    and Ax → [n, C, P_h, P_w]."""
    _, height, width, channels = input_hwc.shape
    ry = (y0[:, None] + torch.arange(rows, device=input_hwc.device)[None]).clamp(max=height - 1)
    rx = (x0[:, None] + torch.arange(cols, device=input_hwc.device)[None]).clamp(max=width - 1)
    flat_index = ((batch[:, None, None] * height + ry[:, :, None]) * width + rx[:, None, :]).reshape(-1)
    window = input_hwc.reshape(-1, channels).index_select(0, flat_index).view(-1, rows, cols, channels)
    tmp = torch.einsum("nph,nhwc->npwc", ay[:, :, :rows], window)
    return torch.einsum("npwc,nqw->ncpq", tmp, ax[:, :, :cols])
