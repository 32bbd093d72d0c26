// SemanticUpsampleArgmax on the host: the kernel's math (kernel.cuh) and the creator's field parsing (fields.h).
// Part of the host library (see ../common/host_api.h): every function returns 0 on success, or non-zero
// with a one-line message in err.
#include "fields.h"
#include "kernel.cuh"
#include "../common/host_api.h"

#include <cstdint>
#include <vector>

using namespace trt_panoptic;
using namespace trt_panoptic::host;

namespace
{

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

} // namespace

extern "C"
{

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

} // extern "C"
