// PanopticFusion on the host: one image, sequential over detections, O(box area) per detection and
// O(H x W) once for the stuff pass. Included by ../host/host_api.cpp; the per-pixel math is kernel.cuh's.
#pragma once

#include "kernel.cuh"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace trt_panoptic
{

//! The outputs of one image: panoptic [h, w] int32 (0 = void) and table [maxSegments, kSegColumns]
//! float32 (rows past the returned count are zero). Only the valid region [0, validH) x [0, validW) (the
//! frame inside a padded input) is fused; the rest stays 0. Returns the number of segments, or -1 if there
//! would be more than maxSegments (nothing meaningful is written then).
inline int32_t panopticFusionHost(int32_t const* semLabels, int32_t h, int32_t w, float const* maskProbs, int32_t m,
    float const* boxes, float const* scores, int32_t const* classes, int32_t n, FusionRules const& p,
    int32_t* panoptic, float* table, int32_t maxSegments, int32_t validH, int32_t validW)
{
    int64_t const pixels = static_cast<int64_t>(h) * w;
    std::fill(panoptic, panoptic + pixels, 0);
    int32_t const vh = clampInt(validH, 0, h);
    int32_t const vw = clampInt(validW, 0, w);
    std::fill(table, table + static_cast<int64_t>(maxSegments) * kSegColumns, 0.f);
    std::vector<int32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
        [scores](int32_t a, int32_t b) { return rankKey(scores[a]) > rankKey(scores[b]); });

    int32_t next = 0;
    // per segment: placed pixels and their extent, in integers until the table is written
    struct Extent
    {
        int64_t area{0};
        int32_t x0{0};
        int32_t y0{0};
        int32_t x1{0};
        int32_t y1{0};
    };
    std::vector<Extent> extent;
    auto addRow = [&](float isThing, float category, float score, float instance) {
        float* row = table + static_cast<int64_t>(next) * kSegColumns;
        ++next;
        row[kSegId] = static_cast<float>(next);
        row[kSegIsThing] = isThing;
        row[kSegCategory] = category;
        row[kSegScore] = score;
        row[kSegInstance] = instance;
        Extent e;
        e.x0 = vw;
        e.y0 = vh;
        extent.push_back(e);
    };
    auto grow = [](Extent& e, int32_t xBegin, int32_t xEnd, int32_t y, int64_t count) {
        e.area += count;
        e.x0 = std::min(e.x0, xBegin);
        e.x1 = std::max(e.x1, xEnd);
        e.y0 = std::min(e.y0, y);
        e.y1 = std::max(e.y1, y + 1);
    };

    std::vector<PasteTap> tapX;
    std::vector<PasteTap> tapY;
    std::vector<uint8_t> inMask;
    std::vector<float> padded(static_cast<size_t>(m + 3) * (m + 3), 0.f);
    for (int32_t inst : order)
    {
        if (!(static_cast<double>(scores[inst]) >= p.instance_score_thresh))
        {
            break;  // sorted: every later one scores lower (a NaN score ranks last and ends the pass)
        }
        float const* b = boxes + static_cast<int64_t>(inst) * 4;
        if (!pastableBox(b))
        {
            continue;  // an empty or non-finite box holds no mask pixel
        }
        PasteWindow const win = pasteWindow(b[0], b[1], b[2], b[3], vh, vw);
        int32_t const ww = win.x1 - win.x0;
        int32_t const wh = win.y1 - win.y0;
        if (ww == 0 || wh == 0)
        {
            continue;
        }
        tapX.resize(static_cast<size_t>(ww));
        tapY.resize(static_cast<size_t>(wh));
        for (int32_t x = 0; x < ww; ++x)
        {
            tapX[static_cast<size_t>(x)] = pasteTap(win.x0 + x, b[0], b[2], m);
        }
        for (int32_t y = 0; y < wh; ++y)
        {
            tapY[static_cast<size_t>(y)] = pasteTap(win.y0 + y, b[1], b[3], m);
        }
        float const* mask = maskProbs + static_cast<int64_t>(inst) * m * m;
        for (int32_t r = 0; r < m; ++r)
        {
            std::copy(mask + r * m, mask + (r + 1) * m, padded.begin() + (r + 1) * (m + 3) + 1);
        }
        inMask.resize(static_cast<size_t>(ww) * wh);
        int64_t area = 0;
        int64_t taken = 0;
        for (int32_t y = 0; y < wh; ++y)
        {
            int32_t const* placed = panoptic + static_cast<int64_t>(win.y0 + y) * w + win.x0;
            uint8_t* bits = inMask.data() + static_cast<int64_t>(y) * ww;
            for (int32_t x = 0; x < ww; ++x)
            {
                bool const in = pasteValuePadded(padded.data(), m, tapY[static_cast<size_t>(y)],
                                    tapX[static_cast<size_t>(x)])
                    >= p.mask_threshold;
                bits[x] = in;
                area += in;
                taken += in && placed[x] != 0;
            }
        }
        if (area == 0 || rejectsOverlap(taken, area, p.overlap_thresh))
        {
            continue;
        }
        if (next >= maxSegments)
        {
            return -1;
        }
        addRow(1.f, static_cast<float>(classes[inst]), scores[inst], static_cast<float>(inst));
        int32_t const id = next;
        Extent& e = extent.back();
        for (int32_t y = 0; y < wh; ++y)
        {
            int32_t* placed = panoptic + static_cast<int64_t>(win.y0 + y) * w + win.x0;
            uint8_t const* bits = inMask.data() + static_cast<int64_t>(y) * ww;
            int32_t first = ww;
            int32_t last = -1;
            int64_t count = 0;
            for (int32_t x = 0; x < ww; ++x)
            {
                if (bits[x] && placed[x] == 0)
                {
                    placed[x] = id;
                    first = std::min(first, x);
                    last = x;
                    ++count;
                }
            }
            if (count)
            {
                grow(e, win.x0 + first, win.x0 + last + 1, win.y0 + y, count);
            }
        }
    }

    // Stuff: a histogram of the unclaimed labels (grown to the largest label seen), then one painting pass.
    std::vector<int64_t> freeCount(1, 0);
    for (int32_t y = 0; y < vh; ++y)
    {
        for (int32_t x = 0; x < vw; ++x)
        {
            int64_t const i = static_cast<int64_t>(y) * w + x;
            int32_t const label = semLabels[i];
            if (panoptic[i] == 0 && label > 0)
            {
                if (static_cast<size_t>(label) >= freeCount.size())
                {
                    freeCount.resize(static_cast<size_t>(label) + 1, 0);
                }
                ++freeCount[static_cast<size_t>(label)];
            }
        }
    }
    int32_t const numLabels = static_cast<int32_t>(freeCount.size());
    std::vector<int32_t> stuffId(static_cast<size_t>(numLabels), 0);
    int32_t const firstStuff = next;
    for (int32_t label = 1; label < numLabels; ++label)
    {
        int64_t const count = freeCount[static_cast<size_t>(label)];
        // a segment needs a pixel (with a limit of 0 the reference would list an empty one)
        if (count > 0 && count >= p.stuff_area_limit)
        {
            if (next >= maxSegments)
            {
                return -1;
            }
            addRow(0.f, static_cast<float>(label), 0.f, -1.f);
            stuffId[static_cast<size_t>(label)] = next;
        }
    }
    // Painting row by row; a row's extent per stuff segment is kept only for the segments it touches.
    std::vector<int32_t> rowFirst(static_cast<size_t>(next + 1));
    std::vector<int32_t> rowLast(static_cast<size_t>(next + 1));
    std::vector<int64_t> rowCount(static_cast<size_t>(next + 1));
    for (int32_t y = 0; y < vh && next > firstStuff; ++y)
    {
        std::fill(rowCount.begin() + firstStuff + 1, rowCount.end(), 0);
        int32_t* pan = panoptic + static_cast<int64_t>(y) * w;
        int32_t const* lab = semLabels + static_cast<int64_t>(y) * w;
        for (int32_t x = 0; x < vw; ++x)
        {
            int32_t const label = lab[x];
            if (pan[x] == 0 && label > 0)
            {
                int32_t const id = stuffId[static_cast<size_t>(label)];
                if (id != 0)
                {
                    pan[x] = id;
                    if (rowCount[static_cast<size_t>(id)]++ == 0)
                    {
                        rowFirst[static_cast<size_t>(id)] = x;
                    }
                    rowLast[static_cast<size_t>(id)] = x;
                }
            }
        }
        for (int32_t id = firstStuff + 1; id <= next; ++id)
        {
            if (rowCount[static_cast<size_t>(id)])
            {
                grow(extent[static_cast<size_t>(id - 1)], rowFirst[static_cast<size_t>(id)],
                    rowLast[static_cast<size_t>(id)] + 1, y, rowCount[static_cast<size_t>(id)]);
            }
        }
    }
    for (int32_t s = 0; s < next; ++s)
    {
        Extent const& e = extent[static_cast<size_t>(s)];
        float* row = table + static_cast<int64_t>(s) * kSegColumns;
        bool const empty = e.area == 0;  // an empty segment gets an empty box
        row[kSegArea] = static_cast<float>(e.area);
        row[kSegX0] = empty ? 0.f : static_cast<float>(e.x0);
        row[kSegY0] = empty ? 0.f : static_cast<float>(e.y0);
        row[kSegX1] = empty ? 0.f : static_cast<float>(e.x1);
        row[kSegY1] = empty ? 0.f : static_cast<float>(e.y1);
    }
    return next;
}

} // namespace trt_panoptic
