// PanopticFusion per-element math, shared by the host library and (to come) the CUDA kernel.
//
// Mask R-CNN mask pasting + Panoptic FPN fusion with detectron2's rules, as
// trt_panoptic.postprocess.combine_panoptic(paste_masks_in_image(...)) computes them:
// - a detection's 28x28 mask is sampled at every pixel centre of its paste window (its box, floor/ceil,
//   grown by one pixel, clipped to the image) with grid_sample's bilinear rule (align_corners=False,
//   zero padding), and the pixel is in the mask when the value is >= mask_threshold;
// - detections go by decreasing score (ties: input order); one below instance_score_thresh ends the
//   pass; one whose overlap with already-placed pixels is more than overlap_thresh of its area is
//   skipped, otherwise it takes its unclaimed pixels;
// - then each semantic label > 0 takes its unclaimed pixels if they number at least stuff_area_limit.
#pragma once

#include "../common/hd.cuh"

#include <cmath>
#include <cstdint>

namespace trt_panoptic
{

//! The plugin fields (ONNX attributes of the PanopticFusion node); detectron2's defaults.
struct PanopticFusionParams
{
    float instance_score_thresh{0.5f};
    float overlap_thresh{0.5f};
    int32_t stuff_area_limit{4096};
    float mask_threshold{0.5f};
    int32_t num_stuff{0}; //!< stuff classes S (labels 1..S): the table has D + S rows
};

//! The fusion rules as the kernels apply them: thresholds in double, so that a threshold the caller
//! gives as a Python float (e.g. 0.7) compares exactly as the reference compares it (fields.h has the
//! conversion from the float32 fields).
struct FusionRules
{
    double instance_score_thresh{0.5};
    double overlap_thresh{0.5};
    int64_t stuff_area_limit{4096};
    float mask_threshold{0.5f}; //!< compared with float32 probabilities, as the reference compares them
};

//! Limits of the CUDA kernel (one thread block per image keeps these in shared memory).
constexpr int32_t kFusionMaxDetections = 1024;
constexpr int32_t kFusionMaxLabels = 256;
constexpr int32_t kFusionMaxMask = 64;

//! Columns of one row of the segment table (trt_panoptic.postprocess.panoptic_tail.SEGMENT_COLUMNS).
enum SegmentColumn : int32_t
{
    kSegId = 0,
    kSegIsThing = 1,
    kSegCategory = 2,
    kSegScore = 3,
    kSegArea = 4,
    kSegInstance = 5,
    kSegX0 = 6,
    kSegY0 = 7,
    kSegX1 = 8,
    kSegY1 = 9,
    kSegColumns = 10,
};

//! Half-open pixel window [x0, x1) x [y0, y1) in which a box's mask is pasted.
struct PasteWindow
{
    int32_t x0;
    int32_t y0;
    int32_t x1;
    int32_t y1;
};

TP_HD int32_t clampInt(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

//! True when box (x0, y0, x1, y1) can hold mask pixels: finite coordinates, x1 > x0 and y1 > y0. (The
//! reference would paste a mirrored mask into a box inverted by less than two pixels; detections never are.)
TP_HD bool pastableBox(float const* b)
{
    return isFiniteValue(b[0]) && isFiniteValue(b[1]) && isFiniteValue(b[2]) && isFiniteValue(b[3]) && b[2] > b[0]
        && b[3] > b[1];
}

//! A score as the placement order sees it: NaN ranks below every score (and is never placed).
TP_HD float rankKey(float score)
{
    return score == score ? score : -INFINITY;
}

//! The paste window of box (bx0, by0, bx1, by1) in an h x w image; empty (x1 <= x0) if it falls outside.
//! The box must be pastable (finite).
TP_HD PasteWindow pasteWindow(float bx0, float by0, float bx1, float by1, int32_t h, int32_t w)
{
    PasteWindow win;
    // floor/ceil on floats beyond int range would overflow: clamp to just outside the image first
    float const lo = -2.f;
    float const hiX = static_cast<float>(w) + 2.f;
    float const hiY = static_cast<float>(h) + 2.f;
    auto fl = [](float v, float a, float b) { return v >= a ? (v <= b ? v : b) : a; };
    win.x0 = clampInt(static_cast<int32_t>(floorf(fl(bx0, lo, hiX))) - 1, 0, w);
    win.y0 = clampInt(static_cast<int32_t>(floorf(fl(by0, lo, hiY))) - 1, 0, h);
    win.x1 = clampInt(static_cast<int32_t>(ceilf(fl(bx1, lo, hiX))) + 1, 0, w);
    win.y1 = clampInt(static_cast<int32_t>(ceilf(fl(by1, lo, hiY))) + 1, 0, h);
    win.x1 = win.x1 < win.x0 ? win.x0 : win.x1;
    win.y1 = win.y1 < win.y0 ? win.y0 : win.y1;
    return win;
}

//! Where pixel `coord` samples the mask along one axis: the lower neighbour i0 (in -1..m; -1 and m
//! are zero padding) and the weights of i0 and i0 + 1.
struct PasteTap
{
    int32_t i0;
    float w0;
    float w1;
};

//! The tap of pixel `coord` for a box side [lo, hi] and a mask side m, rounded as the reference
//! rounds it: the normalized grid g = (coord + 0.5 - lo) / (hi - lo) * 2 - 1, then grid_sample's
//! unnormalization (g + 1) * m / 2 - 0.5.
TP_HD PasteTap pasteTap(int32_t coord, float lo, float hi, int32_t m)
{
    // each operation rounded on its own (no FMA on the device), as PyTorch's CPU kernels round them
    float const q = divRn(subRn(addRn(static_cast<float>(coord), 0.5f), lo), subRn(hi, lo));
    float const g = subRn(mulRn(q, 2.f), 1.f);
    float pos = subRn(mulRn(addRn(g, 1.f), static_cast<float>(m) * 0.5f), 0.5f);
    // beyond [-1, m] both neighbours are padding: clamping keeps the value exactly 0 (NaN goes to -1 too)
    float const top = static_cast<float>(m);
    pos = pos >= -1.f ? (pos <= top ? pos : top) : -1.f;
    PasteTap t;
    float const f = floorf(pos);
    t.i0 = static_cast<int32_t>(f);
    t.w1 = subRn(pos, f);
    t.w0 = subRn(1.f, t.w1);
    return t;
}

//! Mask value at (row r, column c) with zero padding outside the m x m mask.
TP_HD float maskAt(float const* mask, int32_t m, int32_t r, int32_t c)
{
    return (r >= 0 && r < m && c >= 0 && c < m) ? mask[r * m + c] : 0.f;
}

//! The four weighted neighbours summed in grid_sample's order of operations (weights as products of
//! the two axes, then north-west, north-east, south-west, south-east), so the value rounds as the
//! reference's does.
TP_HD float bilinearPaste(float vnw, float vne, float vsw, float vse, PasteTap const& ty, PasteTap const& tx)
{
    float const nw = mulRn(ty.w0, tx.w0);
    float const ne = mulRn(ty.w0, tx.w1);
    float const sw = mulRn(ty.w1, tx.w0);
    float const se = mulRn(ty.w1, tx.w1);
    return addRn(addRn(addRn(mulRn(vnw, nw), mulRn(vne, ne)), mulRn(vsw, sw)), mulRn(vse, se));
}

//! The pasted probability of one pixel from the m x m mask (zero outside it).
TP_HD float pasteValue(float const* mask, int32_t m, PasteTap const& ty, PasteTap const& tx)
{
    return bilinearPaste(maskAt(mask, m, ty.i0, tx.i0), maskAt(mask, m, ty.i0, tx.i0 + 1),
        maskAt(mask, m, ty.i0 + 1, tx.i0), maskAt(mask, m, ty.i0 + 1, tx.i0 + 1), ty, tx);
}

//! The same from a copy of the mask padded with one zero row/column before and two after
//! ((m + 3) x (m + 3)), which needs no bounds checks: taps index -1..m + 1.
TP_HD float pasteValuePadded(float const* padded, int32_t m, PasteTap const& ty, PasteTap const& tx)
{
    int32_t const side = m + 3;
    float const* r0 = padded + (ty.i0 + 1) * side + (tx.i0 + 1);
    float const* r1 = r0 + side;
    return bilinearPaste(r0[0], r0[1], r1[0], r1[1], ty, tx);
}

//! detectron2's overlap rule: skip an instance whose already-taken pixels are more than `thresh` of its
//! area (in double, as the reference's Python computes taken / area and compares).
TP_HD bool rejectsOverlap(int64_t taken, int64_t area, double thresh)
{
    return static_cast<double>(taken) / static_cast<double>(area) > thresh;
}

} // namespace trt_panoptic
