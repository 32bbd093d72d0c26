// SemanticUpsampleArgmax per-element math, shared by the CUDA kernel (kernel.cu) and the host library.
//
// labels[n, y, x] = argmax_c bilinear_up(logits)[n, c, y, x] with PyTorch's
// F.interpolate(scale_factor=s, mode="bilinear", align_corners=False) rules (source index
// (dst + 0.5) / s - 0.5, clamped at 0; the upper neighbour clamped to the last row/column) and
// torch.argmax's tie rule (the first maximum wins; a NaN counts as the maximum). Each output pixel
// keeps a running maximum over classes, so the C x H x W upsampled tensor never exists.
#pragma once

#include "../common/hd.cuh"

#include <cstdint>

namespace trt_panoptic
{

//! The plugin fields (ONNX attributes of the SemanticUpsampleArgmax node).
struct SemanticUpsampleArgmaxParams
{
    int32_t scale_factor{4}; //!< integer upsampling factor s: output is [N, s*h, s*w]
    int32_t with_score{0};   //!< 1 = second output: the winning upsampled logit [N, s*h, s*w]
};

//! The two source taps of one output coordinate along one axis.
struct UpsampleTap
{
    int32_t i0;
    int32_t i1;
    float w0;
    float w1;
};

//! Taps of output index dst for an input axis of inSize, invScale = 1 / scale_factor as PyTorch
//! rounds it (float(1.0 / double(s))).
TP_HD UpsampleTap upsampleTap(int32_t dst, int32_t inSize, float invScale)
{
    float src = invScale * (static_cast<float>(dst) + 0.5f) - 0.5f;
    src = src < 0.f ? 0.f : src;
    UpsampleTap t;
    t.i0 = static_cast<int32_t>(src);
    t.i1 = t.i0 + (t.i0 < inSize - 1 ? 1 : 0);
    t.w1 = src - static_cast<float>(t.i0);
    t.w0 = 1.f - t.w1;
    return t;
}

//! The upsampled value from four neighbours, in PyTorch's order of operations (rows first), so
//! that the result is bit-identical and argmax ties fall the same way.
TP_HD float bilinearValue(float v00, float v01, float v10, float v11, UpsampleTap const& ty, UpsampleTap const& tx)
{
    float const top = tx.w0 * v00 + tx.w1 * v01;
    float const bottom = tx.w0 * v10 + tx.w1 * v11;
    return ty.w0 * top + ty.w1 * bottom;
}

//! Running argmax step: true if value v of a later class replaces the current best.
TP_HD bool replacesBest(float v, float best)
{
    // torch.argmax: strictly greater wins (first max kept on ties); the first NaN wins and stays
    return v > best || (v != v && best == best);
}

//! Label (and winning value) of output pixel (y, x) of one image: logits is that image's C x h x w.
template <typename T>
TP_HD int32_t upsampleArgmaxPixel(
    T const* logits, int32_t channels, int32_t h, int32_t w, float invScale, int32_t y, int32_t x, float* score)
{
    UpsampleTap const ty = upsampleTap(y, h, invScale);
    UpsampleTap const tx = upsampleTap(x, w, invScale);
    int64_t const plane = static_cast<int64_t>(h) * w;
    int32_t const o00 = ty.i0 * w + tx.i0;
    int32_t const o01 = ty.i0 * w + tx.i1;
    int32_t const o10 = ty.i1 * w + tx.i0;
    int32_t const o11 = ty.i1 * w + tx.i1;
    float best = 0.f;
    int32_t label = 0;
    for (int32_t c = 0; c < channels; ++c)
    {
        T const* p = logits + c * plane;
        float const v = bilinearValue(toFloat(p[o00]), toFloat(p[o01]), toFloat(p[o10]), toFloat(p[o11]), ty, tx);
        if (c == 0 || replacesBest(v, best))
        {
            best = v;
            label = c;
        }
    }
    if (score != nullptr)
    {
        *score = best;
    }
    return label;
}

//! One of three loaded columns (k = 0, 1, 2) without indexing a register array.
TP_HD float pickColumn(int32_t k, float c0, float c1, float c2)
{
    return k == 0 ? c0 : (k == 1 ? c1 : c2);
}

//! Labels of the S consecutive output pixels x = S*g .. S*g + S-1 of output row y (S = scale_factor).
//! Their sources lie in [g - 1/2, g + 1/2], so they read only input columns g-1, g, g+1: 6 loads per
//! class for S pixels instead of 4*S. Each value is bilinearValue of the same four neighbours that
//! upsampleArgmaxPixel uses, so labels and scores are bit-identical to it (checked on the host).
template <int32_t S, typename T>
TP_HD void upsampleArgmaxGroup(T const* logits, int32_t channels, int32_t h, int32_t w, float invScale, int32_t y,
    int32_t g, int32_t* labels, float* scores)
{
    UpsampleTap const ty = upsampleTap(y, h, invScale);
    UpsampleTap tx[S];
    int32_t k0[S];
    int32_t k1[S];
    for (int32_t s = 0; s < S; ++s)
    {
        tx[s] = upsampleTap(S * g + s, w, invScale);
        k0[s] = tx[s].i0 - (g - 1); // in {0, 1}: column g-1 or g
        k1[s] = tx[s].i1 - (g - 1); // in {1, 2}, or k0 at the last column
        labels[s] = 0;
        scores[s] = 0.f;
    }
    bool const hasLeft = g >= 1;
    bool const hasRight = g + 1 < w;
    int64_t const plane = static_cast<int64_t>(h) * w;
    for (int32_t c = 0; c < channels; ++c)
    {
        T const* r0 = logits + c * plane + static_cast<int64_t>(ty.i0) * w + g;
        T const* r1 = logits + c * plane + static_cast<int64_t>(ty.i1) * w + g;
        // columns outside the map are never picked (k0/k1 only name existing columns); load 0 instead
        float const a0 = hasLeft ? toFloat(r0[-1]) : 0.f;
        float const a1 = toFloat(r0[0]);
        float const a2 = hasRight ? toFloat(r0[1]) : 0.f;
        float const b0 = hasLeft ? toFloat(r1[-1]) : 0.f;
        float const b1 = toFloat(r1[0]);
        float const b2 = hasRight ? toFloat(r1[1]) : 0.f;
        for (int32_t s = 0; s < S; ++s)
        {
            float const v = bilinearValue(pickColumn(k0[s], a0, a1, a2), pickColumn(k1[s], a0, a1, a2),
                pickColumn(k0[s], b0, b1, b2), pickColumn(k1[s], b0, b1, b2), ty, tx[s]);
            if (c == 0 || replacesBest(v, scores[s]))
            {
                scores[s] = v;
                labels[s] = c;
            }
        }
    }
}

} // namespace trt_panoptic
