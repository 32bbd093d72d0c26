// Host (CPU) library of the plugin kernels' math, built with the C++ compiler alone and loaded from
// Python by ctypes (trt_panoptic/plugins/host.py). It runs the same per-element functions
// (kernel.cuh) and the same field parsing (fields.h) as the CUDA kernels and the TensorRT plugins,
// so CPU tests check the code that runs on the GPU. Every function returns 0 on success, or
// non-zero with a one-line message in err.
#include "../panoptic_fusion/fields.h"
#include "../panoptic_fusion/fusion_host.h"
#include "../roi_align_fpn/fields.h"
#include "../roi_align_fpn/kernel.cuh"
#include "../semantic_upsample_argmax/fields.h"
#include "../semantic_upsample_argmax/kernel.cuh"

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace trt_panoptic;

namespace
{

//! Bumped whenever a signature below changes; host.py refuses a library of another version.
constexpr int32_t kAbiVersion = 7;

int32_t fail(char* err, int32_t errLen, std::string const& msg)
{
    if (err != nullptr && errLen > 0)
    {
        std::snprintf(err, static_cast<size_t>(errLen), "%s", msg.c_str());
    }
    return 1;
}

void joinNames(std::vector<std::string> const& names, char* out, int32_t outLen)
{
    std::string s;
    for (auto const& n : names)
    {
        s += (s.empty() ? "" : ",") + n;
    }
    if (out != nullptr && outLen > 0)
    {
        std::snprintf(out, static_cast<size_t>(outLen), "%s", s.c_str());
    }
}

//! parseIntFields behind a C signature: *out only on success, unknown names comma-separated in ignored.
template <typename Params, typename Spec>
int32_t parseFields(Spec const& spec, FieldView const* fields, int32_t nbFields,
    Params* out, char* ignored, int32_t ignoredLen, char* err, int32_t errLen)
{
    Params p;
    std::string msg;
    std::vector<std::string> unknown;
    if (!parseIntFields(spec, fields, nbFields, p, msg, &unknown))
    {
        return fail(err, errLen, msg);
    }
    joinNames(unknown, ignored, ignoredLen);
    *out = p;
    return 0;
}

//! intFieldsToSerialize into a caller's array of capacity entries; returns how many fields there are.
template <typename Params, typename Spec>
int32_t serializeFields(Spec const& spec, Params const& p, FieldView* out, int32_t capacity)
{
    auto const fields = intFieldsToSerialize(spec, p);
    int32_t const n = static_cast<int32_t>(fields.size());
    for (int32_t i = 0; i < n && i < capacity; ++i)
    {
        out[i] = fields[static_cast<size_t>(i)];
    }
    return n;
}

template <int32_t S>
void groupedImage(float const* src, int32_t channels, int32_t h, int32_t w, float invScale, int32_t* labels,
    float* scores)
{
    int32_t lab[S];
    float sc[S];
    for (int32_t y = 0; y < h * S; ++y)
    {
        for (int32_t g = 0; g < w; ++g)
        {
            upsampleArgmaxGroup<S>(src, channels, h, w, invScale, y, g, lab, sc);
            int64_t const o = static_cast<int64_t>(y) * w * S + static_cast<int64_t>(g) * S;
            for (int32_t s = 0; s < S; ++s)
            {
                labels[o + s] = lab[s];
                if (scores != nullptr)
                {
                    scores[o + s] = sc[s];
                }
            }
        }
    }
}

//! Runs fn(begin, end) over [0, total) split into contiguous chunks on up to numThreads threads
//! (<= 0: the hardware concurrency). Chunks write disjoint outputs, so results do not depend on it.
template <typename Fn>
void parallelFor(int64_t total, int32_t numThreads, Fn const& fn)
{
    int64_t threads = numThreads > 0 ? numThreads : static_cast<int64_t>(std::thread::hardware_concurrency());
    threads = threads < 1 ? 1 : (threads > total ? total : threads);
    if (threads <= 1)
    {
        fn(static_cast<int64_t>(0), total);
        return;
    }
    std::vector<std::thread> pool;
    int64_t const chunk = (total + threads - 1) / threads;
    for (int64_t begin = 0; begin < total; begin += chunk)
    {
        int64_t const end = begin + chunk < total ? begin + chunk : total;
        pool.emplace_back([&fn, begin, end] { fn(begin, end); });
    }
    for (auto& t : pool)
    {
        t.join();
    }
}

} // namespace

extern "C"
{

int32_t tp_abi_version()
{
    return kAbiVersion;
}

//! The decimal a FLOAT32 plugin field stands for (common/fields.h decimalValue), for the Python twin's tests.
double tp_decimal_value(float v)
{
    return decimalValue(v);
}

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

//! SemanticUpsampleArgmax on the host. logits: [N, C, h, w] FP32; labels: [N, s*h, s*w] int32;
//! scores: [N, s*h, s*w] FP32 or null. Class-outer loop per output row keeps the row's running
//! max in cache; the arithmetic is kernel.cuh's, so labels equal the CUDA kernel's.
int32_t tp_semantic_upsample_argmax_f32(float const* logits, int32_t n, int32_t channels, int32_t h, int32_t w,
    SemanticUpsampleArgmaxParams const* params, int32_t* labels, float* scores, int32_t numThreads, char* err,
    int32_t errLen)
{
    if (channels <= 0 || h <= 0 || w <= 0 || params->scale_factor <= 0)
    {
        return fail(err, errLen, "logits should be non-empty [N, C, h, w] and scale_factor positive");
    }
    int32_t const s = params->scale_factor;
    int32_t const outH = h * s;
    int32_t const outW = w * s;
    float const invScale = static_cast<float>(1.0 / static_cast<double>(s));
    std::vector<UpsampleTap> tx(static_cast<size_t>(outW));
    for (int32_t x = 0; x < outW; ++x)
    {
        tx[static_cast<size_t>(x)] = upsampleTap(x, w, invScale);
    }
    int64_t const plane = static_cast<int64_t>(h) * w;
    // work item = one output row of one image
    parallelFor(static_cast<int64_t>(n) * outH, numThreads, [&](int64_t rowBegin, int64_t rowEnd) {
        std::vector<float> best(static_cast<size_t>(outW));
        for (int64_t row = rowBegin; row < rowEnd; ++row)
        {
            int32_t const img = static_cast<int32_t>(row / outH);
            int32_t const y = static_cast<int32_t>(row - static_cast<int64_t>(img) * outH);
            float const* src = logits + static_cast<int64_t>(img) * channels * plane;
            UpsampleTap const ty = upsampleTap(y, h, invScale);
            int32_t* lab = labels + (static_cast<int64_t>(img) * outH + y) * outW;
            for (int32_t c = 0; c < channels; ++c)
            {
                float const* r0 = src + c * plane + static_cast<int64_t>(ty.i0) * w;
                float const* r1 = src + c * plane + static_cast<int64_t>(ty.i1) * w;
                for (int32_t x = 0; x < outW; ++x)
                {
                    UpsampleTap const& t = tx[static_cast<size_t>(x)];
                    float const v = bilinearValue(r0[t.i0], r0[t.i1], r1[t.i0], r1[t.i1], ty, t);
                    if (c == 0 || replacesBest(v, best[static_cast<size_t>(x)]))
                    {
                        best[static_cast<size_t>(x)] = v;
                        lab[x] = c;
                    }
                }
            }
            if (scores != nullptr)
            {
                float* sc = scores + (static_cast<int64_t>(img) * outH + y) * outW;
                for (int32_t x = 0; x < outW; ++x)
                {
                    sc[x] = best[static_cast<size_t>(x)];
                }
            }
        }
    });
    return 0;
}

//! The per-pixel device path (upsampleArgmaxPixel) on the host, for tests that it equals the row path.
int32_t tp_semantic_upsample_argmax_pixelwise_f32(float const* logits, int32_t n, int32_t channels, int32_t h,
    int32_t w, SemanticUpsampleArgmaxParams const* params, int32_t* labels, float* scores, char* err, int32_t errLen)
{
    if (channels <= 0 || h <= 0 || w <= 0 || params->scale_factor <= 0)
    {
        return fail(err, errLen, "logits should be non-empty [N, C, h, w] and scale_factor positive");
    }
    int32_t const s = params->scale_factor;
    float const invScale = static_cast<float>(1.0 / static_cast<double>(s));
    int64_t const outPlane = static_cast<int64_t>(h) * s * w * s;
    for (int32_t img = 0; img < n; ++img)
    {
        float const* src = logits + static_cast<int64_t>(img) * channels * h * w;
        for (int32_t y = 0; y < h * s; ++y)
        {
            for (int32_t x = 0; x < w * s; ++x)
            {
                int64_t const i = img * outPlane + static_cast<int64_t>(y) * w * s + x;
                labels[i] = upsampleArgmaxPixel(src, channels, h, w, invScale, y, x, scores ? scores + i : nullptr);
            }
        }
    }
    return 0;
}

//! The grouped device path (upsampleArgmaxGroup, what the CUDA kernel runs for s = 8) on the host.
int32_t tp_semantic_upsample_argmax_grouped_f32(float const* logits, int32_t n, int32_t channels, int32_t h,
    int32_t w, SemanticUpsampleArgmaxParams const* params, int32_t* labels, float* scores, char* err, int32_t errLen)
{
    int32_t const s = params->scale_factor;
    if (channels <= 0 || h <= 0 || w <= 0 || (s != 2 && s != 4 && s != 8))
    {
        return fail(err, errLen, "the grouped path takes non-empty [N, C, h, w] logits and scale_factor 2, 4 or 8");
    }
    float const invScale = static_cast<float>(1.0 / static_cast<double>(s));
    int64_t const outPlane = static_cast<int64_t>(h) * s * w * s;
    for (int32_t img = 0; img < n; ++img)
    {
        float const* src = logits + static_cast<int64_t>(img) * channels * h * w;
        int32_t* lab = labels + img * outPlane;
        float* sc = scores != nullptr ? scores + img * outPlane : nullptr;
        switch (s)
        {
        case 2: groupedImage<2>(src, channels, h, w, invScale, lab, sc); break;
        case 4: groupedImage<4>(src, channels, h, w, invScale, lab, sc); break;
        default: groupedImage<8>(src, channels, h, w, invScale, lab, sc); break;
        }
    }
    return 0;
}

//! The block device path (blockItem: upsampleArgmaxBlock inside, upsampleArgmaxPixel on the perimeter; what
//! the CUDA kernel runs for s = 2, 4) on the host, in the kernel's order of work items.
int32_t tp_semantic_upsample_argmax_blocked_f32(float const* logits, int32_t n, int32_t channels, int32_t h,
    int32_t w, SemanticUpsampleArgmaxParams const* params, int32_t* labels, float* scores, char* err, int32_t errLen)
{
    int32_t const s = params->scale_factor;
    if (channels <= 0 || h <= 0 || w <= 0 || (s != 2 && s != 4))
    {
        return fail(err, errLen, "the block path takes non-empty [N, C, h, w] logits and scale_factor 2 or 4");
    }
    float const invScale = static_cast<float>(1.0 / static_cast<double>(s));
    int64_t const cells = static_cast<int64_t>(h) * w;
    int64_t const items = blockItemCount(h, w, s);
    int64_t const outW = static_cast<int64_t>(w) * s;
    int32_t lab[16];
    float sc[16];
    for (int32_t img = 0; img < n; ++img)
    {
        float const* src = logits + static_cast<int64_t>(img) * channels * cells;
        for (int64_t k = 0; k < items; ++k)
        {
            BlockItem const item = blockItem(k, h, w, s);
            int64_t const o = img * cells * s * s + static_cast<int64_t>(item.i) * s * outW + static_cast<int64_t>(item.g) * s;
            if (item.pixel >= 0)
            {
                int64_t const at = o + (item.pixel / s) * outW + item.pixel % s;
                labels[at] = upsampleArgmaxPixel(src, channels, h, w, invScale, s * item.i + item.pixel / s,
                    s * item.g + item.pixel % s, scores != nullptr ? scores + at : nullptr);
                continue;
            }
            if (s == 2)
            {
                upsampleArgmaxBlock<2>(src, channels, h, w, invScale, item.i, item.g, lab, sc);
            }
            else
            {
                upsampleArgmaxBlock<4>(src, channels, h, w, invScale, item.i, item.g, lab, sc);
            }
            for (int32_t q = 0; q < s * s; ++q)
            {
                int64_t const at = o + (q / s) * outW + q % s;
                labels[at] = lab[q];
                if (scores != nullptr)
                {
                    scores[at] = sc[q];
                }
            }
        }
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

//! Parses plugin fields exactly as the SemanticUpsampleArgmax creator does.
int32_t tp_semantic_upsample_argmax_parse_fields(FieldView const* fields, int32_t nbFields,
    SemanticUpsampleArgmaxParams* out, char* ignored, int32_t ignoredLen, char* err, int32_t errLen)
{
    return parseFields(semanticUpsampleArgmaxFields(), fields, nbFields, out, ignored, ignoredLen, err, errLen);
}

//! The fields the SemanticUpsampleArgmax plugin serializes (pointing into *p); returns their number.
int32_t tp_semantic_upsample_argmax_serialize_fields(
    SemanticUpsampleArgmaxParams const* p, FieldView* out, int32_t capacity)
{
    return serializeFields(semanticUpsampleArgmaxFields(), *p, out, capacity);
}

//! PanopticFusion on the host, image by image. semLabels: [N, h, w] int32; maskProbs: [N, D, m, m] FP32;
//! boxes: [N, D, 4] FP32 XYXY pixels; scores: [N, D] FP32; classes: [N, D] int32; numDetections: [N] int32
//! (rows past it are ignored; nullptr = all D); validHW: [N, 2] int32 height and width of the frame inside
//! the padded input (nullptr = all of it). Outputs: panoptic [N, h, w] int32, table [N, S, 10] FP32,
//! numSegments [N] int32.
int32_t tp_panoptic_fusion_f32(int32_t const* semLabels, int32_t n, int32_t h, int32_t w, float const* maskProbs,
    int32_t d, int32_t m, float const* boxes, float const* scores, int32_t const* classes,
    int32_t const* numDetections, int32_t const* validHW, FusionRules const* params, int32_t* panoptic,
    float* table, int32_t maxSegments, int32_t* numSegments, int32_t numThreads, char* err, int32_t errLen)
{
    if (n < 0 || h <= 0 || w <= 0 || d < 0 || (d > 0 && m <= 0) || maxSegments < 0)
    {
        return fail(err, errLen, "panoptic_fusion: shapes should be positive (labels [N, h, w], masks [N, D, m, m])");
    }
    std::vector<int32_t> counts(static_cast<size_t>(n), 0);
    parallelFor(n, numThreads, [&](int64_t begin, int64_t end) {
        for (int64_t img = begin; img < end; ++img)
        {
            int32_t const dets = numDetections == nullptr ? d : clampInt(numDetections[img], 0, d);
            counts[static_cast<size_t>(img)] = panopticFusionHost(semLabels + img * h * w, h, w,
                maskProbs + img * d * m * m, m, boxes + img * d * 4, scores + img * d, classes + img * d, dets,
                *params, panoptic + img * h * w, table + img * maxSegments * kSegColumns, maxSegments,
                validHW == nullptr ? h : validHW[img * 2], validHW == nullptr ? w : validHW[img * 2 + 1]);
        }
    });
    for (int32_t img = 0; img < n; ++img)
    {
        if (counts[static_cast<size_t>(img)] < 0)
        {
            return fail(err, errLen, "panoptic_fusion: more segments than the table holds (" + std::to_string(maxSegments)
                + " rows) — size it detections + stuff classes");
        }
        numSegments[img] = counts[static_cast<size_t>(img)];
    }
    return 0;
}

//! Parses plugin fields exactly as the PanopticFusion creator does.
int32_t tp_panoptic_fusion_parse_fields(FieldView const* fields, int32_t nbFields, PanopticFusionParams* out,
    char* ignored, int32_t ignoredLen, char* err, int32_t errLen)
{
    return parseFields(panopticFusionFields(), fields, nbFields, out, ignored, ignoredLen, err, errLen);
}

//! The fields the PanopticFusion plugin serializes (pointing into *p); returns their number.
int32_t tp_panoptic_fusion_serialize_fields(PanopticFusionParams const* p, FieldView* out, int32_t capacity)
{
    return serializeFields(panopticFusionFields(), *p, out, capacity);
}

} // extern "C"
