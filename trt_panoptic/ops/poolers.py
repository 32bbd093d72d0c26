"""Multi-level RoIAlign over a feature pyramid with the FPN paper's level mapping."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from trt_panoptic.ops.roi_align import axis_weights, convert_boxes_to_roi_format, roi_align, roi_geometry


def assign_boxes_to_levels(
    boxes: Tensor, min_level: int, max_level: int, canonical_box_size: int = 224, canonical_level: int = 4
) -> Tensor:
    """Pyramid level index (0 = ``min_level``) of each box, Eqn. (1) of the FPN paper.

    ``level = floor(canonical_level + log2(sqrt(area) / canonical_box_size))`` clamped to
    [min_level, max_level]; the 1e-8 keeps a box of exactly the canonical size on the canonical level
    despite rounding (detectron2's convention).

    Args:
        boxes: Tensor[K, 4] XYXY in input pixels.

    Returns:
        Tensor[K] int64 in [0, max_level - min_level].
    """
    sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    return (levels.clamp(min=min_level, max=max_level) - min_level).to(torch.int64)


def multilevel_roi_align(
    features: list[Tensor],
    boxes: Tensor | list[Tensor],
    output_size: int,
    strides: list[int],
    sampling_ratio: int = 0,
    aligned: bool = True,
    canonical_box_size: int = 224,
    canonical_level: int = 4,
    implementation: str = "auto",
) -> Tensor:
    """RoIAlign each box on the pyramid level its size selects.

    Args:
        features: pyramid maps Tensor[N, C, H/s, W/s], one per stride in ``strides`` (e.g. P2..P5, 4..32).
        boxes: Tensor[K, 5] (batch index, x1, y1, x2, y2) or list of N Tensor[L, 4], input pixels.
        output_size: P, the pooled size (7 for the box head, 14 for the mask head).
        strides: power-of-two stride of each map; level = log2(stride).
        implementation: "torch" (tensor ops, any device, differentiable), "host" (the RoIAlignFPN plugin's
            host build: P2..P5, FP32 CPU tensors, no gradient; sampling taps computed once per RoI and shared
            by all channels, as torchvision's CPU kernel does) or "auto" (host where it applies and its
            library loads, else torch).

    Returns:
        Tensor[K, C, P, P], in the order of ``boxes``.
    """
    rois = convert_boxes_to_roi_format(boxes).to(features[0].dtype)
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"poolers: implementation should be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
    if implementation == "host" or (implementation == "auto" and _host_applies(features, rois, strides)):
        from trt_panoptic.plugins import host

        return host.roi_align_fpn(rois, features, output_size, max(sampling_ratio, 0), aligned, canonical_box_size,
                                  canonical_level, num_threads=torch.get_num_threads())
    levels = [int(round(torch.log2(torch.tensor(float(s))).item())) for s in strides]
    assert levels == list(range(levels[0], levels[0] + len(levels))), "poolers: strides must be consecutive powers of 2"
    num_rois, channels = rois.shape[0], features[0].shape[1]
    out = features[0].new_zeros((num_rois, channels, output_size, output_size))
    if num_rois == 0:
        return out
    level_idx = assign_boxes_to_levels(rois[:, 1:], levels[0], levels[-1], canonical_box_size, canonical_level)
    for i, (feature, stride) in enumerate(zip(features, strides)):
        idx = torch.nonzero(level_idx == i).squeeze(1)
        if idx.numel():
            out[idx] = roi_align(feature, rois[idx], output_size, 1.0 / stride, sampling_ratio, aligned)
    return out


#: Every ``implementation`` of :func:`multilevel_roi_align`.
IMPLEMENTATIONS = ("auto", "torch", "host")


def _host_applies(features: list[Tensor], rois: Tensor, strides: list[int]) -> bool:
    """Whether the host build can pool these: P2..P5 FP32 maps on the CPU, nothing that needs a gradient."""
    from trt_panoptic.plugins import host

    needs_grad = torch.is_grad_enabled() and (rois.requires_grad or any(f.requires_grad for f in features))
    return (list(strides) == [4, 8, 16, 32] and not needs_grad and rois.device.type == "cpu"
            and all(f.device.type == "cpu" and f.dtype == torch.float32 for f in features)
            and host.library_available())


def multilevel_roi_align_fixed(
    features: list[Tensor],
    rois: Tensor,
    output_size: int,
    strides: list[int],
    sampling_ratio: int = 0,
    aligned: bool = True,
    canonical_box_size: int = 224,
    canonical_level: int = 4,
    max_short: int = 28,
    max_long: int = 56,
    chunk_values: int = 1 << 24,
) -> tuple[Tensor, Tensor]:
    """:func:`multilevel_roi_align` as fixed-shape tensor work: no host sync, no data-dependent shape.

    Every RoI reads a window of its own level's map, ``P·g_long + 2`` lines along its longer side and
    ``P·g_short + 2`` along its shorter (g = ``ceil(max / P)`` samples per bin): exactly what RoIAlign reads
    for a RoI of up to ``max_long`` × ``max_short`` feature pixels. With the FPN level mapping a RoI on P2–P4
    is under 28² feature pixels in area, so its short side is always under 28, and its long side under 56
    unless it is more than 4:1; on P5 the map itself bounds the window (up to 896 × 1792 input pixels).
    Sampling grid and bilinear weights are those of :func:`~trt_panoptic.ops.roi_align` (same operation order;
    the sums run in another order, so results agree to float rounding). A RoI outside the bounds would need a
    larger window: whether every RoI fitted is returned, computed on the device, so that a caller that must be
    exact checks it once per frame.

    Args:
        features: pyramid maps Tensor[N, C, H/s, W/s], one per stride (consecutive powers of 2).
        rois: Tensor[R, 5] (batch index, x1, y1, x2, y2) in input pixels.
        max_short, max_long: RoI sides in feature pixels that the static windows hold exactly; the work is
            R·(P·g_long + 2)·(P·g_short + 2)·C whatever the RoIs.
        chunk_values: most window values gathered at once (static chunks over the RoIs keep memory flat).

    Returns:
        (Tensor[R, C, P, P], exact Tensor[] bool).
    """
    min_level = int(math.log2(strides[0]))
    if [int(math.log2(s)) for s in strides] != list(range(min_level, min_level + len(strides))):
        raise ValueError(f"poolers: strides should be consecutive powers of 2, got {strides}")
    rois = rois.to(features[0].dtype)
    num_rois, channels = rois.shape[0], features[0].shape[1]
    level = assign_boxes_to_levels(rois[:, 1:], min_level, min_level + len(strides) - 1, canonical_box_size,
                                   canonical_level)
    # Per-RoI map size, flat offset and scale of its level, selected on the device (no host lists).
    height = torch.zeros_like(level)
    width = torch.zeros_like(level)
    offset = torch.zeros_like(level)
    start = 0
    for i, f in enumerate(features):
        n, _, h, w = f.shape
        here = level == i
        height = torch.where(here, h, height)
        width = torch.where(here, w, width)
        offset = torch.where(here, start, offset)
        start += n * h * w
    scale = torch.exp2(-(level + min_level).to(rois.dtype))
    # Channels-last, all levels in one table: a window line is a contiguous read of C values.
    table = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, channels) for f in features])

    g_long = max(-(-max_long // output_size), sampling_ratio)
    long_side = output_size * g_long + 2
    short_side = min(output_size * max(-(-max_short // output_size), sampling_ratio) + 2, long_side)
    start_h, start_w, roi_h, roi_w, grid_h, grid_w = roi_geometry(rois, scale, sampling_ratio, aligned, output_size,
                                                                   output_size)
    count = (grid_h * grid_w).clamp(min=1).to(rois.dtype)
    ay, y0, extent_y = axis_weights(start_h, roi_h / output_size, grid_h.clamp(min=0), output_size, height, g_long,
                                    long_side)
    ax, x0, extent_x = axis_weights(start_w, roi_w / output_size, grid_w.clamp(min=0), output_size, width, g_long,
                                    long_side)
    ay = ay / count[:, None, None]
    # The window's first axis runs along the RoI's longer side: a tall RoI reads rows × columns, a wide one
    # columns × rows (its result is transposed back).
    tall = extent_y >= extent_x
    exact = ((torch.maximum(extent_y, extent_x) <= long_side) & (torch.minimum(extent_y, extent_x) <= short_side)
             & (grid_h <= g_long) & (grid_w <= g_long)).all()
    w_long = torch.where(tall[:, None, None], ay, ax)
    w_short = torch.where(tall[:, None, None], ax, ay)[:, :, :short_side]
    base = offset + rois[:, 0].long() * height * width
    along = torch.arange(long_side, device=rois.device)
    across = torch.arange(short_side, device=rois.device)
    ry_long = torch.minimum(y0[:, None] + along, height[:, None] - 1)[:, :, None]
    rx_short = torch.minimum(x0[:, None] + across, width[:, None] - 1)[:, None, :]
    rx_long = torch.minimum(x0[:, None] + along, width[:, None] - 1)[:, :, None]
    ry_short = torch.minimum(y0[:, None] + across, height[:, None] - 1)[:, None, :]
    w_ = width[:, None, None]
    flat_index = base[:, None, None] + torch.where(tall[:, None, None], ry_long * w_ + rx_short, ry_short * w_ + rx_long)
    per_chunk = max(1, chunk_values // (long_side * short_side * channels))
    parts = []
    for s in range(0, num_rois, per_chunk):
        idx = flat_index[s:s + per_chunk]
        window = table.index_select(0, idx.reshape(-1)).view(idx.shape[0], long_side, short_side, channels)
        tmp = torch.einsum("npa,nabc->npbc", w_long[s:s + per_chunk], window)
        pooled = torch.einsum("npbc,nqb->ncpq", tmp, w_short[s:s + per_chunk])
        parts.append(torch.where(tall[s:s + per_chunk, None, None, None], pooled, pooled.transpose(2, 3)))
    if not parts:
        return features[0].new_zeros((0, channels, output_size, output_size)), exact
    return torch.cat(parts), exact
