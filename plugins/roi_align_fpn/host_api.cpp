// RoIAlignFPN on the host: the kernel's math (kernel.cuh) and the creator's field parsing (fields.h).
// Part of the host library (see ../common/host_api.h): every function returns 0 on success, or non-zero
// with a one-line message in err.
#include "fields.h"
#include "kernel.cuh"
#include "../common/host_api.h"

#include <cstdint>
#include <vector>

using namespace trt_panoptic;
using namespace trt_panoptic::host;

extern "C"
{

//! RoIAlignFPN on the host. rois: [R, roiCols] FP32 (roiCols 4: x1,y1,x2,y2 of image 0; 5: batch
//! index first), input pixels. features[l]: P(l+2) as [batch, channels, heights[l], widths[l]] FP32.
//! out: [R, channels, P, P] FP32 with P = params->output_size.
int32_t tp_roi_align_fpn_f32(float const* rois, int64_t numRois, int32_t roiCols, float const* const* features,
    int32_t const* heights, int32_t const* widths, int32_t batch, int32_t channels, RoIAlignFPNParams const* params,
    float* out, int32_t numThreads, char* err, int32_t errLen)
{
    if (roiCols != 4 && roiCols != 5)
    {
        return fail(err, errLen, "rois should have 4 or 5 columns, got " + std::to_string(roiCols));
    }
    FeatureLevels<float> f;
    for (int32_t l = 0; l < kRoIAlignFPNNumLevels; ++l)
    {
        if (heights[l] <= 0 || widths[l] <= 0)
        {
            return fail(err, errLen, "feature level " + std::to_string(l + kRoIAlignFPNMinLevel) + " is empty");
        }
        f.data[l] = features[l];
        f.height[l] = heights[l];
        f.width[l] = widths[l];
    }
    RoIAlignFPNParams const& p = *params;
    int64_t const bins = static_cast<int64_t>(p.output_size) * p.output_size;
    // Like torchvision's CPU kernel, the taps of an RoI are computed once and reused for every channel;
    // roiAlignBin (the device path) computes the same taps with the same functions in the same order,
    // so both give the same bits (checked by the tests).
    parallelFor(numRois, numThreads, [&](int64_t rBegin, int64_t rEnd) {
        std::vector<BilinearTap> taps;
        for (int64_t r = rBegin; r < rEnd; ++r)
        {
            float const* roi = rois + r * roiCols;
            float const* box = roi + (roiCols - 4);
            int32_t const b = roiBatchIndex(roi, roiCols, batch);
            RoIGeometry const g = roiGeometry(box[0], box[1], box[2], box[3], p);
            int32_t const h = f.height[g.level];
            int32_t const w = f.width[g.level];
            int32_t const gh = g.grid_h > 0 ? g.grid_h : 0;
            int32_t const gw = g.grid_w > 0 ? g.grid_w : 0;
            int64_t const perBin = static_cast<int64_t>(gh) * gw;
            taps.resize(static_cast<size_t>(bins * perBin));
            for (int32_t ph = 0; ph < p.output_size; ++ph)
            {
                for (int32_t pw = 0; pw < p.output_size; ++pw)
                {
                    BilinearTap* t = taps.data() + (ph * p.output_size + pw) * perBin;
                    for (int32_t iy = 0; iy < gh; ++iy)
                    {
                        for (int32_t ix = 0; ix < gw; ++ix)
                        {
                            float y;
                            float x;
                            samplePosition(g, ph, pw, iy, ix, y, x);
                            *t++ = bilinearTap(h, w, y, x);
                        }
                    }
                }
            }
            for (int32_t c = 0; c < channels; ++c)
            {
                float* o = out + (r * channels + c) * bins;
                if (b < 0)
                {
                    for (int64_t i = 0; i < bins; ++i)
                    {
                        o[i] = 0.f;
                    }
                    continue;
                }
                float const* plane = f.data[g.level] + (static_cast<int64_t>(b) * channels + c) * h * w;
                BilinearTap const* t = taps.data();
                for (int64_t i = 0; i < bins; ++i)
                {
                    float sum = 0.f;
                    for (int64_t k = 0; k < perBin; ++k)
                    {
                        sum += applyTap(plane, *t++);
                    }
                    o[i] = sum / g.count;
                }
            }
        }
    });
    return 0;
}

//! The per-element device path (roiAlignBin, what each CUDA thread runs) on the host, for tests that
//! the faster loop above gives the same bits.
int32_t tp_roi_align_fpn_elementwise_f32(float const* rois, int64_t numRois, int32_t roiCols,
    float const* const* features, int32_t const* heights, int32_t const* widths, int32_t batch, int32_t channels,
    RoIAlignFPNParams const* params, float* out, char* err, int32_t errLen)
{
    if (roiCols != 4 && roiCols != 5)
    {
        return fail(err, errLen, "rois should have 4 or 5 columns, got " + std::to_string(roiCols));
    }
    RoIAlignFPNParams const& p = *params;
    int64_t const bins = static_cast<int64_t>(p.output_size) * p.output_size;
    for (int64_t r = 0; r < numRois; ++r)
    {
        float const* roi = rois + r * roiCols;
        float const* box = roi + (roiCols - 4);
        int32_t const b = roiBatchIndex(roi, roiCols, batch);
        RoIGeometry const g = roiGeometry(box[0], box[1], box[2], box[3], p);
        int32_t const h = heights[g.level];
        int32_t const w = widths[g.level];
        for (int32_t c = 0; c < channels; ++c)
        {
            float* o = out + (r * channels + c) * bins;
            for (int32_t ph = 0; ph < p.output_size; ++ph)
            {
                for (int32_t pw = 0; pw < p.output_size; ++pw)
                {
                    o[ph * p.output_size + pw] = b < 0 ? 0.f
                        : roiAlignBin(features[g.level] + (static_cast<int64_t>(b) * channels + c) * h * w, h, w, g,
                            ph, pw);
                }
            }
        }
    }
    return 0;
}

//! Levels (2..5) the plugin assigns to R boxes [R, 4] (x1, y1, x2, y2 in input pixels).
int32_t tp_roi_align_fpn_levels(
    float const* boxes, int64_t numRois, RoIAlignFPNParams const* params, int32_t* levels, char* err, int32_t errLen)
{
    (void) err;
    (void) errLen;
    for (int64_t r = 0; r < numRois; ++r)
    {
        float const* b = boxes + 4 * r;
        levels[r] = roiLevel(b[0], b[1], b[2], b[3], params->canonical_box_size, params->canonical_level);
    }
    return 0;
}

//! Parses plugin fields exactly as the RoIAlignFPN creator does; ignored gets unknown names, comma-separated.
int32_t tp_roi_align_fpn_parse_fields(FieldView const* fields, int32_t nbFields, RoIAlignFPNParams* out,
    char* ignored, int32_t ignoredLen, char* err, int32_t errLen)
{
    return parseFields(roiAlignFPNFields(), fields, nbFields, out, ignored, ignoredLen, err, errLen);
}

//! The fields the RoIAlignFPN plugin serializes (pointing into *p); returns their number (<= capacity).
int32_t tp_roi_align_fpn_serialize_fields(RoIAlignFPNParams const* p, FieldView* out, int32_t capacity)
{
    return serializeFields(roiAlignFPNFields(), *p, out, capacity);
}

} // extern "C"
