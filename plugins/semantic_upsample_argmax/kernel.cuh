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
    TP_UNROLL4
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

//! One thread's work in the block path (s = 2, 4): the whole S x S output block of an interior input cell
//! (rows S*i.., columns S*g..), or one pixel of the block of a perimeter cell.
struct BlockItem
{
    int32_t i;
    int32_t g;
    int32_t pixel; //!< -1: the whole block (interior cell, upsampleArgmaxBlock); else row-major pixel of it
};

//! Work item k (0 <= k < blockItemCount) of one image. Interior cells (1 <= i <= h-2, 1 <= g <= w-2) come
//! first, row by row, one item each; then every pixel of the perimeter cells' blocks (first row, last row,
//! then the left and right ends of the rows between), one item each: a perimeter pixel takes the per-pixel
//! path (4 loads per class), so one thread per perimeter block would load 4*S*S values per class against an
//! interior block's 9, and those few last warps would set the launch's length (measured: 462 vs 81 us).
TP_HD BlockItem blockItem(int64_t k, int32_t h, int32_t w, int32_t s)
{
    int32_t const ih = h > 2 ? h - 2 : 0;
    int32_t const iw = w > 2 ? w - 2 : 0;
    int64_t const interior = static_cast<int64_t>(ih) * iw;
    if (k < interior)
    {
        return {1 + static_cast<int32_t>(k / iw), 1 + static_cast<int32_t>(k % iw), -1};
    }
    int64_t const j = k - interior;
    int32_t r = static_cast<int32_t>(j / (s * s));
    int32_t const pixel = static_cast<int32_t>(j % (s * s));
    if (interior == 0)
    {
        return {r / w, r % w, pixel};
    }
    if (r < 2 * w)
    {
        return {r < w ? 0 : h - 1, r < w ? r : r - w, pixel};
    }
    r -= 2 * w;
    return {1 + r / 2, (r % 2) != 0 ? w - 1 : 0, pixel};
}

//! Work items of one image in the block path: the interior cells plus S*S per perimeter cell.
TP_HD int64_t blockItemCount(int32_t h, int32_t w, int32_t s)
{
    int64_t const interior = static_cast<int64_t>(h > 2 ? h - 2 : 0) * (w > 2 ? w - 2 : 0);
    return interior + (static_cast<int64_t>(h) * w - interior) * s * s;
}

//! Labels of the S x S output block of interior cell (i, g) (S = 2 or 4): its sources lie within half a
//! pixel of (i, g), so per class it reads the 3 x 3 neighbourhood once (9 loads for S*S pixels, against
//! 4 per pixel). Output rows y < S*i + S/2 interpolate input rows i-1 and i, the others i and i+1 (columns
//! likewise); inside the map no tap is clamped, so that pattern is exact. Each row's horizontal
//! interpolation is computed once and shared by the output rows that use it; the operations are
//! bilinearValue's, in its order, so labels and scores equal upsampleArgmaxPixel's bit for bit (checked
//! on the host). labels and scores are S*S, row-major.
template <int32_t S, typename T>
TP_HD void upsampleArgmaxBlock(T const* logits, int32_t channels, int32_t h, int32_t w, float invScale, int32_t i,
    int32_t g, int32_t* labels, float* scores)
{
    static_assert(S == 2 || S == 4, "the block path serves scale factors 2 and 4");
    UpsampleTap ty[S];
    UpsampleTap tx[S];
    TP_UNROLL
    for (int32_t s = 0; s < S; ++s)
    {
        ty[s] = upsampleTap(S * i + s, h, invScale);
        tx[s] = upsampleTap(S * g + s, w, invScale);
    }
    int64_t const plane = static_cast<int64_t>(h) * w;
    T const* p = logits + static_cast<int64_t>(i - 1) * w + (g - 1);
    // two classes per iteration: the second's 9 loads are issued before the first's arithmetic
    // (measured on an H200: 81 -> 70 us at 54 classes, 1/4 map of 1024x2048)
    TP_UNROLL2
    for (int32_t c = 0; c < channels; ++c, p += plane)
    {
        float hz[3][S]; // hz[r][sx]: input row i-1+r interpolated at output column S*g+sx
        TP_UNROLL
        for (int32_t r = 0; r < 3; ++r)
        {
            float const m0 = toFloat(p[r * w]);
            float const m1 = toFloat(p[r * w + 1]);
            float const m2 = toFloat(p[r * w + 2]);
            TP_UNROLL
            for (int32_t sx = 0; sx < S; ++sx)
            {
                hz[r][sx] = sx < S / 2 ? tx[sx].w0 * m0 + tx[sx].w1 * m1 : tx[sx].w0 * m1 + tx[sx].w1 * m2;
            }
        }
        TP_UNROLL
        for (int32_t sy = 0; sy < S; ++sy)
        {
            int32_t const r0 = sy < S / 2 ? 0 : 1;
            TP_UNROLL
            for (int32_t sx = 0; sx < S; ++sx)
            {
                float const v = ty[sy].w0 * hz[r0][sx] + ty[sy].w1 * hz[r0 + 1][sx];
                int32_t const o = sy * S + sx;
                if (c == 0 || replacesBest(v, scores[o]))
                {
                    scores[o] = v;
                    labels[o] = c;
                }
            }
        }
    }
}

} // namespace trt_panoptic
