"""The panoptic tail in one vectorized pass: detections + semantic labels → panoptic id map + segment table.

Equal to ``combine_panoptic(sem_labels, paste_masks_in_image(mask_probs, boxes, sem_labels.shape), ...)``
(the readable reference, kept beside this) but it never builds [N, H, W] masks, has no Python loop over
instances and no per-instance host sync, and runs on whatever device its inputs are on.

How the sequential overlap rule becomes vectorized work:

- **Pasting** is O(box area) per instance. Every instance's paste window (its box ± 1 px, the reference's)
  is laid out flat: one element per (instance, window pixel). Bilinear sampling is separable, so the 28×28
  mask is first interpolated along x for each window *column* (Σ widths × 30 values), then each element
  blends two of those along y. Sampling positions are computed exactly as ``grid_sample`` computes them;
  only the order of the final multiply-adds differs, so a pixel whose probability lies within a few
  float32 ulps of the threshold may fall the other way (as it may between a CPU and a GPU).
- **The overlap rule** (instances by decreasing score; one whose overlap with already-placed pixels is
  more than ``overlap_thresh`` of its area is skipped) depends on earlier decisions only. Given a guess A
  of the accepted set, each pixel's owner is the best-ranked instance of A covering it (a scatter-min over
  the elements), and every instance's overlap is the number of its pixels owned by a better-ranked one.
  Re-deciding every instance from that is exact for the first k instances after k rounds, and the exact
  decision is the unique fixed point (instance i's decision depends only on instances before i), so the
  rounds stop when nothing changes: one round when no instance is skipped, one more per link of a chain
  of skips. Each round is O(Σ box area), never O(H·W) per instance.
- **Stuff** is one histogram of the still-unclaimed semantic labels and one lookup.

On the CPU the same rules run, by default, in the PanopticFusion plugin's host build
(:func:`trt_panoptic.plugins.host.panoptic_fusion`: sequential C++ over detections, O(box area) each),
which is several times faster there than these tensor ops and equals the reference bit for bit; the two
give the same map and table up to the threshold rounding above.

The segment table has the exported graph's layout (:data:`SEGMENT_COLUMNS`), so the graph, the
PanopticFusion plugin and this function all hand the host the same thing.
"""
from __future__ import annotations

import torch
from torch import Tensor

from trt_panoptic.errors import TrtPanopticError

IMPLEMENTATIONS = ("auto", "torch", "host")

#: Columns of the segment table, one row per segment (things in score order, then stuff by label).
#: ``category`` is the 0-based thing class or the semantic channel (1..S) of a stuff class; ``score`` is 0
#: for stuff; ``instance`` indexes the input detections (-1 for stuff); x0, y0, x1, y1 bound the segment's
#: pixels (x1, y1 exclusive).
SEGMENT_COLUMNS = ("id", "isthing", "category", "score", "area", "instance", "x0", "y0", "x1", "y1")


def panoptic_from_detections(
    sem_labels: Tensor,
    mask_probs: Tensor,
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    instance_score_thresh: float = 0.5,
    overlap_thresh: float = 0.5,
    stuff_area_limit: int = 4096,
    mask_threshold: float = 0.5,
    implementation: str = "auto",
) -> tuple[Tensor, list[dict]]:
    """Paste and fuse in one pass; returns what the reference pair returns.

    Args:
        sem_labels: Tensor[H, W] int semantic labels (0 = 'other', 1..S stuff).
        mask_probs: Tensor[N, M, M] mask probabilities; boxes: Tensor[N, 4] XYXY image pixels;
        scores: Tensor[N]; classes: Tensor[N] 0-based thing classes.
        implementation: "torch" (tensor ops on the inputs' device), "host" (the plugin's host build, CPU
            tensors) or "auto" (host for CPU tensors when its library loads, else torch).

    Returns:
        (panoptic Tensor[H, W] int32 with 0 = unassigned, segments_info list in ``combine_panoptic``'s format).
    """
    panoptic, table = panoptic_table(
        sem_labels, mask_probs, boxes, scores, classes, instance_score_thresh=instance_score_thresh,
        overlap_thresh=overlap_thresh, stuff_area_limit=stuff_area_limit, mask_threshold=mask_threshold,
        implementation=implementation,
    )
    return panoptic, segments_info_from_table(table)


def panoptic_table(
    sem_labels: Tensor,
    mask_probs: Tensor,
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    instance_score_thresh: float = 0.5,
    overlap_thresh: float = 0.5,
    stuff_area_limit: int = 4096,
    mask_threshold: float = 0.5,
    implementation: str = "auto",
) -> tuple[Tensor, Tensor]:
    """The tail's device-side result: (panoptic Tensor[H, W] int32, table Tensor[K, 10] float32).

    The table has one row per segment, columns :data:`SEGMENT_COLUMNS`; ids are 1..K in row order.
    Arguments as :func:`panoptic_from_detections`.
    """
    if implementation not in IMPLEMENTATIONS:
        raise TrtPanopticError(f"implementation should be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
    rules = {"instance_score_thresh": instance_score_thresh, "overlap_thresh": overlap_thresh,
             "stuff_area_limit": stuff_area_limit, "mask_threshold": mask_threshold}
    on_cpu = sem_labels.device.type == "cpu"
    if implementation == "host" or (implementation == "auto" and on_cpu and host_fusion_available()):
        from trt_panoptic.plugins import host

        if mask_probs.dim() != 3 or mask_probs.shape[-1] != mask_probs.shape[-2]:
            raise TrtPanopticError(f"mask_probs should be [N, M, M], got {tuple(mask_probs.shape)}")
        pan, table, num = host.panoptic_fusion(sem_labels[None], mask_probs[None], boxes[None], scores[None],
                                               classes[None], **rules, num_threads=1)
        return pan[0], table[0, : int(num[0])]
    return _table_torch(sem_labels, mask_probs, boxes, scores, classes, **rules)


def host_fusion_available() -> bool:
    """Whether the plugins' host library loads (built on first use; needs a C++ compiler). Asked once."""
    from trt_panoptic.plugins import host

    return host.library_available()


def _table_torch(sem_labels: Tensor, mask_probs: Tensor, boxes: Tensor, scores: Tensor, classes: Tensor, *,
                 instance_score_thresh: float, overlap_thresh: float, stuff_area_limit: int,
                 mask_threshold: float) -> tuple[Tensor, Tensor]:
    """:func:`panoptic_table` as tensor ops on the inputs' device."""
    h, w = sem_labels.shape
    device = sem_labels.device
    order = _candidates(boxes, scores, instance_score_thresh)
    accepted, pix, inst = _placed_pixels(mask_probs[order].float(), boxes[order].float(), (h, w), overlap_thresh,
                                         mask_threshold)
    num_things = int(accepted.sum())
    # Stuff takes what things left: label histogram of the frame minus that of the placed thing pixels.
    labels = sem_labels.reshape(-1).to(torch.int64).clamp(min=0)  # a negative label is 'other': never stuff
    num_labels = int(labels.max()) + 1 if labels.numel() else 1
    free = torch.bincount(labels, minlength=num_labels) - torch.bincount(labels.index_select(0, pix), minlength=num_labels)
    free[0] = 0  # 'other' never becomes stuff
    # A stuff segment needs a pixel (with stuff_area_limit 0 the reference would list an empty one).
    stuff_labels = ((free >= stuff_area_limit) & (free > 0)).nonzero().squeeze(1)
    stuff_id = torch.zeros(num_labels, dtype=torch.int32, device=device)
    stuff_id[stuff_labels] = torch.arange(num_things + 1, num_things + 1 + stuff_labels.shape[0], dtype=torch.int32,
                                          device=device)
    # Thing ids 1..K follow the rank order of the accepted instances.
    thing_id = (torch.cumsum(accepted.to(torch.int32), 0) * accepted).to(torch.int32)
    panoptic = stuff_id.index_select(0, labels)
    panoptic.index_put_((pix,), thing_id.index_select(0, inst))
    panoptic = panoptic.view(h, w)

    k = num_things + stuff_labels.shape[0]
    area = torch.cat([torch.bincount(inst, minlength=order.shape[0])[accepted], free[stuff_labels]]).float()
    x0, y0, x1, y1 = _segment_extents(panoptic, k)
    kept = order[accepted]
    ones, zeros = torch.ones(k, device=device), torch.zeros(k, device=device)
    isthing = torch.cat([ones[:num_things], zeros[num_things:]])
    category = torch.cat([classes[kept].float(), stuff_labels.float()])
    score = torch.cat([scores[kept].float(), zeros[num_things:]])
    instance = torch.cat([kept.float(), -ones[num_things:]])
    ids = torch.arange(1, k + 1, device=device, dtype=torch.float32)
    table = torch.stack([ids, isthing, category, score, area, instance, x0, y0, x1, y1], dim=1)
    return panoptic, table


def segments_info_from_table(table: Tensor) -> list[dict]:
    """Segment table rows → ``combine_panoptic``'s segments_info dicts (one host copy for the whole table)."""
    rows = table.detach().to("cpu", torch.float64).tolist()
    segments = []
    for seg_id, isthing, category, score, area, instance, *_ in rows:
        if isthing:
            # Scores travel as float32 in the table; the reference reports the float32 score as a Python float.
            segments.append({"id": int(seg_id), "isthing": True, "score": score, "category_id": int(category),
                             "instance_id": int(instance)})
        else:
            segments.append({"id": int(seg_id), "isthing": False, "category_id": int(category), "area": int(area)})
    return segments


def _candidates(boxes: Tensor, scores: Tensor, instance_score_thresh: float) -> Tensor:
    """Indices of the instances that may be placed, best score first (ties keep input order).

    The threshold compares in float64, as the reference's Python does; a NaN score is never placed; an
    empty or non-finite box holds no mask pixel (the reference would paste a mirrored mask into a box
    inverted by under two pixels — detections never are).
    """
    order = torch.argsort(-scores.float(), stable=True)
    ok = scores[order].double() >= instance_score_thresh
    b = boxes[order]
    ok = ok & torch.isfinite(b).all(dim=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return order[ok]


def _paste_windows(boxes: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The reference's paste window of every box: xs, ys, xe, ye (int64, clipped to the image)."""
    h, w = size
    xs = (torch.floor(boxes[:, 0]).long() - 1).clamp(0, w)
    ys = (torch.floor(boxes[:, 1]).long() - 1).clamp(0, h)
    xe = (torch.ceil(boxes[:, 2]).long() + 1).clamp(0, w)
    ye = (torch.ceil(boxes[:, 3]).long() + 1).clamp(0, h)
    return xs, ys, torch.maximum(xe, xs), torch.maximum(ye, ys)


def _axis_samples(lo: Tensor, hi: Tensor, start: Tensor, length: Tensor, m: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Sampling positions along one axis for every window line, concatenated over instances.

    For window coordinate c of instance i: the source index ``i0`` of the lower neighbour in the mask padded
    with one zero row/column before and two after (so ``i0`` runs 0..m+1 and ``i0 + 1`` stays inside) and the
    two bilinear weights, computed exactly as
    ``grid_sample(align_corners=False)`` computes them for the reference's normalized grid. Returns
    (owner instance, i0, weight of i0, weight of i0 + 1), each Tensor[Σ length].
    """
    n = lo.shape[0]
    total = int(length.sum())
    inst = torch.repeat_interleave(torch.arange(n, device=lo.device), length, output_size=total)
    first = torch.cumsum(length, 0) - length
    coord = start[inst] + torch.arange(total, device=lo.device) - first[inst]
    g = (coord.float() + 0.5 - lo[inst]) / (hi[inst] - lo[inst]) * 2 - 1
    pos = ((g + 1) * m - 1) / 2
    # Outside [-1, m] both neighbours are padding: clamping there keeps the value exactly 0.
    pos = pos.clamp(-1.0, float(m))
    i0 = torch.floor(pos)
    w1 = pos - i0
    return inst, i0.long() + 1, 1 - w1, w1


def _placed_pixels(mask_probs: Tensor, boxes: Tensor, size: tuple[int, int], overlap_thresh: float,
                   mask_threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """Paste (flat, O(box area)) and run the overlap rule to its fixed point.

    ``mask_probs``/``boxes`` are in rank order. Returns (accepted Tensor[N] bool, and for every pixel an
    accepted instance places: its flat index Tensor[P] int64 and the instance's rank Tensor[P] int64).
    """
    h, w = size
    n, m = mask_probs.shape[0], mask_probs.shape[-1]
    device = boxes.device
    if n == 0:
        none = torch.zeros(0, dtype=torch.int64, device=device)
        return torch.zeros(0, dtype=torch.bool, device=device), none, none
    xs, ys, xe, ye = _paste_windows(boxes, size)
    widths, heights = xe - xs, ye - ys
    # Along x: every window column gets the mask interpolated horizontally, all padded rows at once.
    side = m + 3
    padded = torch.nn.functional.pad(mask_probs, (1, 2, 1, 2)).reshape(-1)  # rows/cols -1..m+1, flat
    col_inst, ix0, wx0, wx1 = _axis_samples(boxes[:, 0], boxes[:, 2], xs, widths, m)
    left = (col_inst * side * side + ix0)[None, :] + (torch.arange(side, device=device) * side)[:, None]
    columns = (wx0 * padded.take(left) + wx1 * padded.take(left + 1)).reshape(-1)  # [side, C] flat
    num_cols = col_inst.shape[0]
    # Along y: each element (window row r, column) blends two of those rows.
    row_inst, iy0, wy0, wy1 = _axis_samples(boxes[:, 1], boxes[:, 3], ys, heights, m)
    num_rows = row_inst.shape[0]
    row_width = widths.index_select(0, row_inst)
    total = int(row_width.sum())
    row_of = torch.repeat_interleave(torch.arange(num_rows, device=device), row_width, output_size=total)
    elem_first = torch.cumsum(row_width, 0) - row_width
    # Per row: the flat index of its first element's upper neighbour in `columns`, and of its first pixel,
    # both minus the row's first element index, so that element e's index is row offset + e.
    col_first = (torch.cumsum(widths, 0) - widths).index_select(0, row_inst)
    row_src = iy0 * num_cols + col_first - elem_first
    row_y = ys.index_select(0, row_inst) + torch.arange(num_rows, device=device) - (torch.cumsum(heights, 0) - heights).index_select(0, row_inst)
    row_pix = row_y * w + xs.index_select(0, row_inst) - elem_first
    ar = torch.arange(total, device=device)
    src = row_src.index_select(0, row_of) + ar
    prob = wy0.index_select(0, row_of) * columns.take(src) + wy1.index_select(0, row_of) * columns.take(src + num_cols)
    inside = (prob >= mask_threshold).nonzero().squeeze(1)
    elem_row = row_of.index_select(0, inside)
    inst = row_inst.index_select(0, elem_row)
    pix = row_pix.index_select(0, elem_row) + inside
    area = torch.bincount(inst, minlength=n)
    present = area > 0
    accepted = present
    inst32 = inst.to(torch.int32)
    while True:
        owner = torch.full((h * w,), n, dtype=torch.int32, device=device)
        owner.scatter_reduce_(0, pix, torch.where(accepted.index_select(0, inst), inst32, n), "amin")
        first = owner.index_select(0, pix)
        overlap = torch.bincount(inst[first < inst32], minlength=n)
        # The reference's test, in float64 as Python computes taken_area / area.
        decided = present & ~(overlap.double() / area.clamp(min=1).double() > overlap_thresh)
        if torch.equal(decided, accepted):
            placed = first == inst32
            return accepted, pix[placed], inst[placed]
        accepted = decided


def _segment_extents(panoptic: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pixel bounding box (x0, y0, x1, y1; ends exclusive) of segments 1..k, each Tensor[k] float32."""
    h, w = panoptic.shape
    ids = panoptic.to(torch.int64)
    device = panoptic.device
    # Which columns / rows each segment touches, as histograms of (id, x) and (id, y).
    cols = torch.bincount((ids * w + torch.arange(w, device=device)).view(-1), minlength=(k + 1) * w).view(k + 1, w) > 0
    rows = torch.bincount((ids * h + torch.arange(h, device=device)[:, None]).view(-1), minlength=(k + 1) * h).view(k + 1, h) > 0

    def span(present: Tensor) -> tuple[Tensor, Tensor]:
        length = present.shape[1]
        first = present.float().argmax(dim=1)
        last = length - 1 - present.flip(1).float().argmax(dim=1)
        # an empty segment (an accepted instance left no pixel) gets an empty box
        some = present.any(dim=1)
        return (first * some)[1:].float(), ((last + 1) * some)[1:].float()

    x0, x1 = span(cols)
    y0, y1 = span(rows)
    return x0, y0, x1, y1
