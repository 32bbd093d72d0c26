// PanopticFusion CUDA kernel: one thread block per image. The detections are taken in score order, one
// after another (the overlap rule is sequential), and the block's threads share each detection's paste
// window: one pass counts its mask area and the pixels already taken, the block decides, a second pass
// paints its free pixels. Stuff is a shared-memory histogram of the unclaimed labels and one painting
// pass. Work per detection is O(box area) spread over the block; no [N, H, W] mask ever exists and
// nothing returns to the host. The per-pixel math is kernel.cuh's, which the host build also runs.
#include "kernel.h"

#include <cuda_fp16.h>

namespace trt_panoptic
{
namespace
{

constexpr int32_t kThreads = 512;
constexpr int32_t kPaddedMask = (kFusionMaxMask + 3) * (kFusionMaxMask + 3);

struct FusionShared
{
    int32_t order[kFusionMaxDetections];
    float mask[kPaddedMask];
    int32_t stuffCount[kFusionMaxLabels];
    int32_t stuffId[kFusionMaxLabels];
    int32_t x0[kFusionMaxLabels];
    int32_t y0[kFusionMaxLabels];
    int32_t x1[kFusionMaxLabels];
    int32_t y1[kFusionMaxLabels];
    unsigned long long area;
    unsigned long long taken;
    int32_t next;
};

__device__ void resetExtent(FusionShared& s, int32_t slot, int32_t vh, int32_t vw)
{
    s.stuffCount[slot] = 0;
    s.x0[slot] = vw;
    s.y0[slot] = vh;
    s.x1[slot] = 0;
    s.y1[slot] = 0;
}

__device__ void growExtent(FusionShared& s, int32_t slot, int32_t x, int32_t y)
{
    atomicAdd(&s.stuffCount[slot], 1);
    atomicMin(&s.x0[slot], x);
    atomicMin(&s.y0[slot], y);
    atomicMax(&s.x1[slot], x + 1);
    atomicMax(&s.y1[slot], y + 1);
}

__device__ void writeExtent(FusionShared const& s, int32_t slot, float* row)
{
    int32_t const area = s.stuffCount[slot];
    row[kSegArea] = static_cast<float>(area);
    row[kSegX0] = area ? static_cast<float>(s.x0[slot]) : 0.f;
    row[kSegY0] = area ? static_cast<float>(s.y0[slot]) : 0.f;
    row[kSegX1] = area ? static_cast<float>(s.x1[slot]) : 0.f;
    row[kSegY1] = area ? static_cast<float>(s.y1[slot]) : 0.f;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) panopticFusionKernel(int32_t const* __restrict__ semLabels, int32_t h,
    int32_t w, T const* __restrict__ maskProbs, int32_t d, int32_t m, float const* __restrict__ boxes,
    float const* __restrict__ scores, int32_t const* __restrict__ classes, int32_t const* __restrict__ numDetections,
    int32_t const* __restrict__ validHW, FusionRules p, int32_t numStuff, int32_t* __restrict__ panoptic,
    float* __restrict__ table, int32_t* __restrict__ numSegments)
{
    __shared__ FusionShared s;
    int64_t const img = blockIdx.x;
    int32_t const tid = threadIdx.x;
    int32_t const vh = clampInt(validHW[img * 2], 0, h);
    int32_t const vw = clampInt(validHW[img * 2 + 1], 0, w);
    int32_t const dets = clampInt(numDetections[img], 0, d);
    int32_t const rows = d + numStuff;
    int32_t const* lab = semLabels + img * h * w;
    int32_t* pan = panoptic + img * h * w;
    float* tab = table + img * rows * kSegColumns;
    scores += img * d;
    boxes += img * d * 4;
    for (int64_t i = tid; i < static_cast<int64_t>(h) * w; i += kThreads)
    {
        pan[i] = 0;
    }
    for (int32_t i = tid; i < rows * kSegColumns; i += kThreads)
    {
        tab[i] = 0.f;
    }
    // Rank of each detection by decreasing score, ties by index (a stable sort; NaN ranks last).
    for (int32_t i = tid; i < dets; i += kThreads)
    {
        float const si = rankKey(scores[i]);
        int32_t rank = 0;
        for (int32_t j = 0; j < dets; ++j)
        {
            float const sj = rankKey(scores[j]);
            rank += (sj > si) || (sj == si && j < i);
        }
        s.order[rank] = i;
    }
    for (int32_t i = tid; i < (m + 3) * (m + 3); i += kThreads)
    {
        s.mask[i] = 0.f;
    }
    if (tid == 0)
    {
        s.next = 0;
    }
    __syncthreads();

    int32_t const side = m + 3;
    for (int32_t k = 0; k < dets; ++k)
    {
        int32_t const inst = s.order[k];
        if (!(static_cast<double>(scores[inst]) >= p.instance_score_thresh))
        {
            break; // sorted: every later one scores lower (the same for all threads; NaN ranks last)
        }
        float const* b = boxes + inst * 4;
        if (!pastableBox(b))
        {
            continue;
        }
        PasteWindow const win = pasteWindow(b[0], b[1], b[2], b[3], vh, vw);
        int32_t const ww = win.x1 - win.x0;
        int32_t const wh = win.y1 - win.y0;
        if (ww == 0 || wh == 0)
        {
            continue;
        }
        T const* mask = maskProbs + (img * d + inst) * m * m;
        for (int32_t i = tid; i < m * m; i += kThreads)
        {
            s.mask[(i / m + 1) * side + (i % m) + 1] = toFloat(mask[i]);
        }
        if (tid == 0)
        {
            s.area = 0;
            s.taken = 0;
        }
        __syncthreads();
        int64_t const count = static_cast<int64_t>(ww) * wh;
        unsigned long long area = 0;
        unsigned long long taken = 0;
        for (int64_t i = tid; i < count; i += kThreads)
        {
            int32_t const y = win.y0 + static_cast<int32_t>(i / ww);
            int32_t const x = win.x0 + static_cast<int32_t>(i % ww);
            bool const in = pasteValuePadded(s.mask, m, pasteTap(y, b[1], b[3], m), pasteTap(x, b[0], b[2], m))
                >= p.mask_threshold;
            area += in;
            taken += in && pan[static_cast<int64_t>(y) * w + x] != 0;
        }
        atomicAdd(&s.area, area);
        atomicAdd(&s.taken, taken);
        __syncthreads();
        bool const accepted = s.area > 0
            && !rejectsOverlap(static_cast<int64_t>(s.taken), static_cast<int64_t>(s.area), p.overlap_thresh);
        int32_t const id = s.next + 1;
        if (accepted)
        {
            if (tid == 0)
            {
                resetExtent(s, 0, vh, vw);
            }
            __syncthreads();
            for (int64_t i = tid; i < count; i += kThreads)
            {
                int32_t const y = win.y0 + static_cast<int32_t>(i / ww);
                int32_t const x = win.x0 + static_cast<int32_t>(i % ww);
                int32_t* placed = pan + static_cast<int64_t>(y) * w + x;
                if (*placed == 0
                    && pasteValuePadded(s.mask, m, pasteTap(y, b[1], b[3], m), pasteTap(x, b[0], b[2], m))
                        >= p.mask_threshold)
                {
                    *placed = id;
                    growExtent(s, 0, x, y);
                }
            }
            __syncthreads();
            if (tid == 0)
            {
                float* row = tab + static_cast<int64_t>(id - 1) * kSegColumns;
                row[kSegId] = static_cast<float>(id);
                row[kSegIsThing] = 1.f;
                row[kSegCategory] = static_cast<float>(classes[img * d + inst]);
                row[kSegScore] = scores[inst];
                row[kSegInstance] = static_cast<float>(inst);
                writeExtent(s, 0, row);
                s.next = id;
            }
        }
        __syncthreads(); // s.mask, s.next and the map are complete before the next detection
    }

    // Stuff: histogram of the unclaimed labels inside the frame (labels beyond num_stuff are ignored).
    int32_t const numLabels = numStuff + 1;
    for (int32_t l = tid; l < numLabels; l += kThreads)
    {
        s.stuffCount[l] = 0;
    }
    __syncthreads();
    for (int64_t i = tid; i < static_cast<int64_t>(vh) * vw; i += kThreads)
    {
        int64_t const o = (i / vw) * w + (i % vw);
        int32_t const label = lab[o];
        if (pan[o] == 0 && label > 0 && label < numLabels)
        {
            atomicAdd(&s.stuffCount[label], 1);
        }
    }
    __syncthreads();
    if (tid == 0)
    {
        int32_t next = s.next;
        for (int32_t l = 1; l < numLabels; ++l)
        {
            int32_t const c = s.stuffCount[l];
            s.stuffId[l] = 0;
            // a segment needs a pixel (with a limit of 0 the reference would list an empty one)
            if (c > 0 && c >= p.stuff_area_limit)
            {
                ++next;
                s.stuffId[l] = next;
                float* row = tab + static_cast<int64_t>(next - 1) * kSegColumns;
                row[kSegId] = static_cast<float>(next);
                row[kSegCategory] = static_cast<float>(l);
                row[kSegInstance] = -1.f;
            }
        }
        s.stuffId[0] = 0;
        numSegments[img] = next;
    }
    __syncthreads();
    for (int32_t l = tid; l < numLabels; l += kThreads)
    {
        resetExtent(s, l, vh, vw);
    }
    __syncthreads();
    for (int64_t i = tid; i < static_cast<int64_t>(vh) * vw; i += kThreads)
    {
        int32_t const y = static_cast<int32_t>(i / vw);
        int32_t const x = static_cast<int32_t>(i % vw);
        int64_t const o = static_cast<int64_t>(y) * w + x;
        int32_t const label = lab[o];
        if (pan[o] == 0 && label > 0 && label < numLabels && s.stuffId[label] != 0)
        {
            pan[o] = s.stuffId[label];
            growExtent(s, label, x, y);
        }
    }
    __syncthreads();
    for (int32_t l = 1 + tid; l < numLabels; l += kThreads)
    {
        if (s.stuffId[l] != 0)
        {
            writeExtent(s, l, tab + static_cast<int64_t>(s.stuffId[l] - 1) * kSegColumns);
        }
    }
}

} // namespace

cudaError_t launchPanopticFusion(int32_t const* semLabels, int32_t n, int32_t h, int32_t w, void const* maskProbs,
    TensorType maskType, int32_t d, int32_t m, float const* boxes, float const* scores, int32_t const* classes,
    int32_t const* numDetections, int32_t const* validHW, FusionRules const& rules, int32_t numStuff, int32_t* panoptic,
    float* table, int32_t* numSegments, cudaStream_t stream)
{
    if (n < 0 || h <= 0 || w <= 0 || d < 0 || d > kFusionMaxDetections || m <= 0 || m > kFusionMaxMask
        || numStuff < 0 || numStuff >= kFusionMaxLabels)
    {
        return cudaErrorInvalidValue;
    }
    if (n == 0)
    {
        return cudaSuccess;
    }
    if (maskType == TensorType::kFLOAT16)
    {
        panopticFusionKernel<__half><<<n, kThreads, 0, stream>>>(semLabels, h, w, static_cast<__half const*>(maskProbs),
            d, m, boxes, scores, classes, numDetections, validHW, rules, numStuff, panoptic, table, numSegments);
    }
    else
    {
        panopticFusionKernel<float><<<n, kThreads, 0, stream>>>(semLabels, h, w, static_cast<float const*>(maskProbs),
            d, m, boxes, scores, classes, numDetections, validHW, rules, numStuff, panoptic, table, numSegments);
    }
    return cudaGetLastError();
}

} // namespace trt_panoptic
