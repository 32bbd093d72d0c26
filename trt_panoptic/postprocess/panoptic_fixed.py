"""The panoptic tail as fixed-shape tensor work: no host sync, no data-dependent shape, so it can be captured
in a CUDA graph and traced by ``torch.export``.

It computes what the ``PanopticFusion`` node computes (:class:`trt_panoptic.export.graph_model.PanopticGraphModel`
with ``panoptic_tail``): :func:`~trt_panoptic.postprocess.panoptic_tail.panoptic_table` on the frame inside the
padded input, padded back to the input's size and to a table of D + S rows. Where
:mod:`~trt_panoptic.postprocess.panoptic_tail` lays out only the pixels of each paste window (O(box area),
sizes known only on the host), this works on the whole [D, H, W] grid, each instance masked to its paste
window: more arithmetic, none of it sequential, which a GPU does in well under a millisecond at 720p.

- **Pasting** samples every pixel exactly as :mod:`~trt_panoptic.postprocess.panoptic_tail` does (the same
  operations in the same order, so the same float32 probabilities and the same threshold decisions).
- **The overlap rule** runs ``rounds`` rounds of the fixed point :mod:`~trt_panoptic.postprocess.panoptic_tail`
  iterates to convergence (each round re-decides every instance from the previous round's decisions; the
  exact decisions are its unique fixed point, reached after one round per link of the longest chain of
  skips). Whether ``rounds`` sufficed is returned, computed on the device, for the caller to check once per
  frame.
- **Stuff, ids and the table** are histograms and scatters of fixed size over the S + 1 labels and the
  D + S + 1 segment ids.
"""
from __future__ import annotations

import torch
from torch import Tensor

#: Fixed-point rounds of the overlap rule: exact when no chain of skips is longer (see the module docstring).
DEFAULT_ROUNDS = 8


def panoptic_table_fixed(
    sem_labels: Tensor,
    mask_probs: Tensor,
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    num_detections: Tensor,
    valid_hw: Tensor,
    *,
    num_stuff: int,
    instance_score_thresh: float = 0.5,
    overlap_thresh: float = 0.5,
    stuff_area_limit: int = 0,
    mask_threshold: float = 0.5,
    rounds: int = DEFAULT_ROUNDS,
    chunk_values: int = 1 << 24,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The panoptic map and segment table of one padded frame.

    Args:
        sem_labels: Tensor[H, W] int semantic labels (0 = 'other', 1..S stuff).
        mask_probs: Tensor[D, M, M]; boxes: Tensor[D, 4] XYXY input pixels; scores: Tensor[D]; classes: Tensor[D]
            0-based thing classes. Only the first ``num_detections`` rows are detections.
        num_detections: Tensor[] or Tensor[1] int; valid_hw: Tensor[2] int, the frame's height and width inside
            the H×W input (top-left).
        num_stuff: S, the number of stuff labels.
        rounds: fixed-point rounds of the overlap rule; chunk_values: most pixel values computed at once.

    Returns:
        (panoptic Tensor[H, W] int32, 0 = void and outside the frame; table Tensor[D + S, 10] float32, columns
        :data:`~trt_panoptic.postprocess.panoptic_tail.SEGMENT_COLUMNS`, zero past the segments; num_segments
        Tensor[1] int32; exact Tensor[] bool: the overlap rule converged within ``rounds``).
    """
    h, w = sem_labels.shape
    d = mask_probs.shape[0]
    device = sem_labels.device
    vh = valid_hw[0].to(torch.int64).clamp(1, h)
    vw = valid_hw[1].to(torch.int64).clamp(1, w)
    order, candidate = _ranked_candidates(boxes, scores, num_detections.reshape(()), instance_score_thresh)
    # Non-candidates get a harmless box: their coverage is masked out, but NaN must not reach the arithmetic.
    unit_box = (torch.arange(4, device=device) // 2).float()  # (0, 0, 1, 1), made on the device
    safe = torch.where(candidate[:, None], boxes[order].float(), unit_box)
    cover = _coverage(mask_probs[order].float(), safe, (h, w), vh, vw, mask_threshold, chunk_values)
    cover = cover & candidate[:, None]

    area = cover.sum(dim=1)
    present = area > 0
    # Rank weights, best rank heaviest: a pixel's heaviest accepted coverer is its owner (amax over instances
    # is an element-wise max across rows, far cheaper than an argmax down the columns).
    weight_type = torch.int16 if d < 2 ** 15 else torch.int32
    rank_weight = (d - torch.arange(d, device=device)).to(weight_type)
    weighted = cover.to(weight_type) * rank_weight[:, None]
    accepted = present
    for _ in range(rounds):
        accepted = _decide(cover, weighted, rank_weight, accepted, present, area, overlap_thresh)
    exact = (_decide(cover, weighted, rank_weight, accepted, present, area, overlap_thresh) == accepted).all()

    best = _best_weight(weighted, accepted)
    owned = best > 0
    owner = d - best.to(torch.int64)
    thing_id = (torch.cumsum(accepted.to(torch.int32), 0) * accepted).to(torch.int32)
    num_things = accepted.sum(dtype=torch.int32)
    labels = sem_labels.reshape(-1).to(torch.int64).clamp(0, num_stuff)  # a negative label is 'other'
    ys = torch.arange(h, device=device)[:, None]
    xs = torch.arange(w, device=device)[None, :]
    valid = ((ys < vh) & (xs < vw)).reshape(-1)
    free = torch.zeros(num_stuff + 1, dtype=torch.int64, device=device).index_add_(
        0, labels, (valid & ~owned).to(torch.int64))
    is_stuff_label = torch.arange(num_stuff + 1, device=device) > 0  # 'other' is never stuff
    stuff_ok = (free >= stuff_area_limit) & (free > 0) & is_stuff_label
    stuff_id = torch.where(stuff_ok, num_things + torch.cumsum(stuff_ok.to(torch.int32), 0), 0).to(torch.int32)
    things_here = thing_id.index_select(0, owner.clamp(max=d - 1)) if d else torch.zeros_like(owner, dtype=torch.int32)
    panoptic = torch.where(owned, things_here, stuff_id.index_select(0, labels))
    panoptic = torch.where(valid, panoptic, 0).to(torch.int32)

    segments = d + num_stuff
    stats = _segment_stats(panoptic, segments, w)  # [segments + 1, 5]: area, x0, y0, x1, y1 per id
    dump = segments  # table row of the entries that are not segments, dropped at the end
    thing_rows = torch.where(accepted, thing_id.to(torch.int64) - 1, dump)
    detection = order.to(torch.float32)
    things = torch.stack([thing_id.float(), torch.ones_like(detection), classes[order].float(), scores[order].float(),
                          detection], dim=1)
    stuff_labels = torch.arange(1, num_stuff + 1, device=device)
    stuff_rows = torch.where(stuff_ok[1:], stuff_id[1:].to(torch.int64) - 1, dump)
    zeros = torch.zeros(num_stuff, device=device)
    stuff = torch.stack([stuff_id[1:].float(), zeros, stuff_labels.float(), zeros, -torch.ones_like(zeros)], dim=1)
    head = torch.zeros((segments + 1, 5), device=device)
    head = head.index_put((torch.cat([thing_rows, stuff_rows]),), torch.cat([things, stuff]))
    ids = head[:, 0].to(torch.int64)
    table = torch.cat([head[:, :4], stats.index_select(0, ids)[:, :1], head[:, 4:5], stats.index_select(0, ids)[:, 1:]],
                      dim=1)
    in_table = torch.arange(segments + 1, device=device) < (num_things + stuff_ok.sum(dtype=torch.int32))
    table = torch.where(in_table[:, None], table, 0.0)[:segments]
    num_segments = (num_things + stuff_ok.sum(dtype=torch.int32)).reshape(1)
    return panoptic.view(h, w), table, num_segments, exact


def _ranked_candidates(boxes: Tensor, scores: Tensor, num: Tensor, instance_score_thresh: float) -> tuple[Tensor, Tensor]:
    """(order Tensor[D]: rows best score first, ties in input order, rows past ``num`` last; candidate Tensor[D]
    bool in that order), with :func:`~trt_panoptic.postprocess.panoptic_tail._candidates`' rules."""
    d = scores.shape[0]
    live = (torch.arange(d, device=scores.device) < num) & ~torch.isnan(scores)
    ranked = torch.where(live, scores.float(), float("-inf"))
    order = torch.sort(ranked, descending=True, stable=True).indices
    b = boxes[order]
    ok = live[order] & (scores[order].double() >= instance_score_thresh)
    ok = ok & torch.isfinite(b).all(dim=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return order, ok


def _axis(lo: Tensor, hi: Tensor, length: int, limit: Tensor, m: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For every instance and every coordinate 0..length-1 along one axis: (in paste window Tensor[D, L] bool,
    index of the lower neighbour in the mask padded by (1, 2), its weight, the upper neighbour's weight), as
    :func:`~trt_panoptic.postprocess.panoptic_tail._axis_samples` computes them."""
    coord = torch.arange(length, device=lo.device)
    start = torch.minimum((torch.floor(lo).long() - 1).clamp(min=0), limit)
    end = torch.maximum(torch.minimum((torch.ceil(hi).long() + 1).clamp(min=0), limit), start)
    inside = (coord[None, :] >= start[:, None]) & (coord[None, :] < end[:, None])
    g = (coord.float()[None, :] + 0.5 - lo[:, None]) / (hi[:, None] - lo[:, None]) * 2 - 1
    pos = (((g + 1) * m - 1) / 2).clamp(-1.0, float(m))
    i0 = torch.floor(pos)
    w1 = pos - i0
    return inside, i0.long() + 1, 1 - w1, w1


def _coverage(masks: Tensor, boxes: Tensor, size: tuple[int, int], vh: Tensor, vw: Tensor, mask_threshold: float,
              chunk_values: int) -> Tensor:
    """Tensor[D, H·W] bool: pixel inside the instance's paste window (clipped to the frame) with probability at
    or above the threshold."""
    h, w = size
    d, m = masks.shape[0], masks.shape[-1]
    in_x, ix0, wx0, wx1 = _axis(boxes[:, 0], boxes[:, 2], w, vw, m)
    in_y, iy0, wy0, wy1 = _axis(boxes[:, 1], boxes[:, 3], h, vh, m)
    padded = torch.nn.functional.pad(masks, (1, 2, 1, 2))  # [D, m + 3, m + 3]
    side = m + 3
    # Along x, every padded mask row at every column: [D, m + 3, W].
    left = torch.gather(padded, 2, ix0[:, None, :].expand(d, side, w))
    right = torch.gather(padded, 2, (ix0 + 1)[:, None, :].expand(d, side, w))
    columns = wx0[:, None, :] * left + wx1[:, None, :] * right
    per_chunk = max(1, chunk_values // (h * w))
    parts = []
    for s in range(0, d, per_chunk):
        e = min(d, s + per_chunk)
        up = torch.gather(columns[s:e], 1, iy0[s:e, :, None].expand(e - s, h, w))
        down = torch.gather(columns[s:e], 1, (iy0[s:e] + 1)[:, :, None].expand(e - s, h, w))
        prob = wy0[s:e, :, None] * up + wy1[s:e, :, None] * down
        window = in_y[s:e, :, None] & in_x[s:e, None, :]
        parts.append(((prob >= mask_threshold) & window).reshape(e - s, h * w))
    if not parts:
        return torch.zeros((0, h * w), dtype=torch.bool, device=masks.device)
    return torch.cat(parts)


def _best_weight(weighted: Tensor, accepted: Tensor) -> Tensor:
    """Per pixel, the rank weight of the best-ranked accepted instance covering it (0: none) → Tensor[H·W]."""
    if weighted.shape[0] == 0:
        return torch.zeros(weighted.shape[1], dtype=weighted.dtype, device=weighted.device)
    return torch.where(accepted[:, None], weighted, 0).amax(dim=0)


def _decide(cover: Tensor, weighted: Tensor, rank_weight: Tensor, accepted: Tensor, present: Tensor, area: Tensor,
            overlap_thresh: float) -> Tensor:
    """One round of the overlap rule: each instance is skipped when more than ``overlap_thresh`` of its area is
    owned by a better-ranked (heavier) instance of ``accepted`` (in float64, as the reference's Python decides)."""
    best = _best_weight(weighted, accepted)
    overlap = (cover & (best[None, :] > rank_weight[:, None])).sum(dim=1)
    return present & ~(overlap.double() / area.clamp(min=1).double() > overlap_thresh)


def _segment_stats(panoptic: Tensor, segments: int, width: int) -> Tensor:
    """Tensor[segments + 1, 5] float32 per id 0..segments: pixel count and pixel bounds x0, y0, x1, y1 (ends
    exclusive; all 0 for an id with no pixel)."""
    ids = panoptic.reshape(-1).to(torch.int64)
    flat = torch.arange(ids.shape[0], device=ids.device)
    x, y = flat % width, flat // width
    n = segments + 1
    count = torch.zeros(n, dtype=torch.int64, device=ids.device).index_add_(0, ids, torch.ones_like(ids))
    big = ids.shape[0]

    def extent(coord: Tensor) -> tuple[Tensor, Tensor]:
        low = torch.full((n,), big, dtype=torch.int64, device=ids.device).scatter_reduce(0, ids, coord, "amin")
        high = torch.full((n,), -1, dtype=torch.int64, device=ids.device).scatter_reduce(0, ids, coord, "amax")
        some = count > 0
        return torch.where(some, low, 0), torch.where(some, high + 1, 0)

    x0, x1 = extent(x)
    y0, y1 = extent(y)
    return torch.stack([count, x0, y0, x1, y1], dim=1).float()
