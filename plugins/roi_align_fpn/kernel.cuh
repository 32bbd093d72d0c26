// RoIAlignFPN per-element math, shared by the CUDA kernel (kernel.cu) and the host library.
//
// Semantics are torchvision.ops.roi_align's (aligned=True: half-pixel offset; sampling_ratio 0:
// ceil(roi / bin) samples per bin side), with the level of each RoI chosen as in detectron2's
// assign_boxes_to_levels (Eqn. (1) of the FPN paper): floor(canonical_level +
// log2(sqrt(area) / canonical_box_size + 1e-8)), clamped to [2, 5]; level k has stride 2^k.
#pragma once

#include "../common/hd.cuh"

#include <cmath>
#include <cstdint>

namespace trt_panoptic
{

constexpr int32_t kRoIAlignFPNMinLevel = 2;
constexpr int32_t kRoIAlignFPNMaxLevel = 5;
constexpr int32_t kRoIAlignFPNNumLevels = kRoIAlignFPNMaxLevel - kRoIAlignFPNMinLevel + 1;

//! The plugin fields (ONNX attributes of the RoIAlignFPN node); defaults are detectron2's box head.
struct RoIAlignFPNParams
{
    int32_t output_size{7};        //!< P: pooled height = width
    int32_t sampling_ratio{0};     //!< samples per bin side; 0 = adaptive ceil(roi / bin)
    int32_t aligned{1};            //!< 1 = half-pixel offset (torchvision aligned=True)
    int32_t canonical_box_size{224};
    int32_t canonical_level{4};
};

//! P2..P5 of one batch: NCHW planes, same N and C, level-specific H and W.
template <typename T>
struct FeatureLevels
{
    T const* data[kRoIAlignFPNNumLevels];
    int32_t height[kRoIAlignFPNNumLevels];
    int32_t width[kRoIAlignFPNNumLevels];
};

//! Where one RoI samples: its level and the sampling grid on that level's map.
struct RoIGeometry
{
    int32_t level; //!< 0..3 for P2..P5
    float start_y;
    float start_x;
    float bin_h;
    float bin_w;
    int32_t grid_h;
    int32_t grid_w;
    float count; //!< number of samples per bin (>= 1), the divisor of the average
};

//! FPN level (2..5) of a box in input pixels. Non-finite or empty boxes go to the finest level.
TP_HD int32_t roiLevel(float x1, float y1, float x2, float y2, int32_t canonicalBoxSize, int32_t canonicalLevel)
{
    float const area = (x2 - x1) * (y2 - y1);
    // sqrt of a negative area is NaN in detectron2 (undefined level); we send such boxes to P2.
    float const size = sqrtf(area > 0.f ? area : 0.f);
    float const level
        = floorf(static_cast<float>(canonicalLevel) + log2f(size / static_cast<float>(canonicalBoxSize) + 1e-8f));
    if (!(level >= static_cast<float>(kRoIAlignFPNMinLevel)))
    {
        return kRoIAlignFPNMinLevel;
    }
    if (level > static_cast<float>(kRoIAlignFPNMaxLevel))
    {
        return kRoIAlignFPNMaxLevel;
    }
    return static_cast<int32_t>(level);
}

//! Sampling geometry of one RoI (x1, y1, x2, y2 in input pixels), exactly as torchvision computes it.
TP_HD RoIGeometry roiGeometry(float x1, float y1, float x2, float y2, RoIAlignFPNParams const& p)
{
    RoIGeometry g;
    int32_t const level = roiLevel(x1, y1, x2, y2, p.canonical_box_size, p.canonical_level);
    g.level = level - kRoIAlignFPNMinLevel;
    float const scale = 1.f / static_cast<float>(1 << level); // exact: strides are powers of two
    float const offset = p.aligned ? 0.5f : 0.f;
    g.start_x = x1 * scale - offset;
    g.start_y = y1 * scale - offset;
    float roiW = x2 * scale - offset - g.start_x;
    float roiH = y2 * scale - offset - g.start_y;
    if (!p.aligned)
    {
        // legacy (Detectron1) behaviour: force malformed RoIs to 1x1
        roiW = roiW > 1.f ? roiW : 1.f;
        roiH = roiH > 1.f ? roiH : 1.f;
    }
    float const pooled = static_cast<float>(p.output_size);
    g.bin_h = roiH / pooled;
    g.bin_w = roiW / pooled;
    g.grid_h = p.sampling_ratio > 0 ? p.sampling_ratio : static_cast<int32_t>(ceilf(roiH / pooled));
    g.grid_w = p.sampling_ratio > 0 ? p.sampling_ratio : static_cast<int32_t>(ceilf(roiW / pooled));
    int32_t const n = g.grid_h * g.grid_w;
    // an RoI with negative extent has no samples; torchvision divides by max(n, 1) and yields 0
    g.count = static_cast<float>(n > 1 ? n : 1);
    return g;
}

//! Where one bilinear sample reads: four offsets into an H x W plane and their weights.
struct BilinearTap
{
    bool valid; //!< false: the sample is more than one pixel outside the map and contributes 0
    int32_t o1, o2, o3, o4;
    float w1, w2, w3, w4;
};

//! The tap of a sample at (y, x) with torchvision's border rules: a sample beyond one pixel outside the
//! map is 0 (but still counted), one within [-1, 0] is clamped to the edge.
TP_HD BilinearTap bilinearTap(int32_t height, int32_t width, float y, float x)
{
    BilinearTap t{};
    if (y < -1.f || y > static_cast<float>(height) || x < -1.f || x > static_cast<float>(width))
    {
        t.valid = false;
        return t;
    }
    t.valid = true;
    y = y <= 0.f ? 0.f : y;
    x = x <= 0.f ? 0.f : x;
    int32_t yLow = static_cast<int32_t>(y);
    int32_t xLow = static_cast<int32_t>(x);
    int32_t yHigh;
    int32_t xHigh;
    if (yLow >= height - 1)
    {
        yHigh = yLow = height - 1;
        y = static_cast<float>(yLow);
    }
    else
    {
        yHigh = yLow + 1;
    }
    if (xLow >= width - 1)
    {
        xHigh = xLow = width - 1;
        x = static_cast<float>(xLow);
    }
    else
    {
        xHigh = xLow + 1;
    }
    float const ly = y - static_cast<float>(yLow);
    float const lx = x - static_cast<float>(xLow);
    float const hy = 1.f - ly;
    float const hx = 1.f - lx;
    t.o1 = yLow * width + xLow;
    t.o2 = yLow * width + xHigh;
    t.o3 = yHigh * width + xLow;
    t.o4 = yHigh * width + xHigh;
    t.w1 = hy * hx;
    t.w2 = hy * lx;
    t.w3 = ly * hx;
    t.w4 = ly * lx;
    return t;
}

//! The sample's value (0 if invalid), accumulated in FP32: w1*v1 + w2*v2 + w3*v3 + w4*v4 as torchvision.
template <typename T>
TP_HD float applyTap(T const* plane, BilinearTap const& t)
{
    if (!t.valid)
    {
        return 0.f;
    }
    return t.w1 * toFloat(plane[t.o1]) + t.w2 * toFloat(plane[t.o2]) + t.w3 * toFloat(plane[t.o3])
        + t.w4 * toFloat(plane[t.o4]);
}

//! Sample position of sample (iy, ix) of bin (ph, pw), in torchvision's order of operations.
TP_HD void samplePosition(RoIGeometry const& g, int32_t ph, int32_t pw, int32_t iy, int32_t ix, float& y, float& x)
{
    y = g.start_y + static_cast<float>(ph) * g.bin_h
        + (static_cast<float>(iy) + .5f) * g.bin_h / static_cast<float>(g.grid_h);
    x = g.start_x + static_cast<float>(pw) * g.bin_w
        + (static_cast<float>(ix) + .5f) * g.bin_w / static_cast<float>(g.grid_w);
}

//! Average of the samples of bin (ph, pw) of one RoI on one H x W plane, accumulated in FP32.
template <typename T>
TP_HD float roiAlignBin(T const* plane, int32_t height, int32_t width, RoIGeometry const& g, int32_t ph, int32_t pw)
{
    float sum = 0.f;
    for (int32_t iy = 0; iy < g.grid_h; ++iy)
    {
        for (int32_t ix = 0; ix < g.grid_w; ++ix)
        {
            float y;
            float x;
            samplePosition(g, ph, pw, iy, ix, y, x);
            sum += applyTap(plane, bilinearTap(height, width, y, x));
        }
    }
    return sum / g.count;
}

//! Batch index of an RoI row: column 0 of a 5-column row, 0 for a 4-column row; -1 if out of range.
template <typename R>
TP_HD int32_t roiBatchIndex(R const* roi, int32_t roiCols, int32_t batch)
{
    if (roiCols == 4)
    {
        return 0;
    }
    float const b = toFloat(roi[0]);
    // a non-integral or out-of-range index yields zeros instead of reading out of bounds
    if (!(b >= 0.f) || b >= static_cast<float>(batch) || b != floorf(b))
    {
        return -1;
    }
    return static_cast<int32_t>(b);
}

} // namespace trt_panoptic
