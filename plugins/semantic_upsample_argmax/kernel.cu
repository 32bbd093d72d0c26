// SemanticUpsampleArgmax CUDA kernels. For s = 2 and 4 one thread computes the s x s output block of
// one interior input cell (upsampleArgmaxBlock: 9 loads per class for s*s pixels), or one pixel of the
// map's perimeter (blockItem says which); for s = 8, s consecutive pixels of a row (upsampleArgmaxGroup);
// other scale factors run one thread per pixel (upsampleArgmaxPixel). Running maxima stay in registers and neighbouring threads read neighbouring
// inputs, so the logits come from DRAM about once; the C x H x W tensor never exists.
#include "kernel.h"

#include <cuda_fp16.h>

#include <type_traits>

namespace trt_panoptic
{
namespace
{

constexpr int32_t kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) upsampleArgmaxKernel(T const* __restrict__ logits, int32_t n,
    int32_t channels, int32_t h, int32_t w, int32_t scale, float invScale, int32_t* __restrict__ labels,
    T* __restrict__ scores)
{
    int32_t const outW = w * scale;
    int64_t const outPlane = static_cast<int64_t>(h) * scale * outW;
    int64_t const total = outPlane * n;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        int64_t const img = i / outPlane;
        int32_t const rem = static_cast<int32_t>(i - img * outPlane);
        int32_t const y = rem / outW;
        int32_t const x = rem - y * outW;
        float best = 0.f;
        labels[i] = upsampleArgmaxPixel(
            logits + img * channels * static_cast<int64_t>(h) * w, channels, h, w, invScale, y, x, &best);
        if (scores != nullptr)
        {
            scores[i] = fromFloat<T>(best);
        }
    }
}

//! Stores S consecutive labels (and scores) at output offset o, a multiple of S: one vector store each.
template <int32_t S, typename T>
__device__ __forceinline__ void storeRun(int32_t* labels, T* scores, int64_t o, int32_t const* lab, float const* sc)
{
    if constexpr (S == 4)
    {
        *reinterpret_cast<int4*>(labels + o) = make_int4(lab[0], lab[1], lab[2], lab[3]);
    }
    else
    {
        *reinterpret_cast<int2*>(labels + o) = make_int2(lab[0], lab[1]);
    }
    if (scores == nullptr)
    {
        return;
    }
    if constexpr (std::is_same_v<T, float> && S == 4)
    {
        *reinterpret_cast<float4*>(scores + o) = make_float4(sc[0], sc[1], sc[2], sc[3]);
    }
    else if constexpr (std::is_same_v<T, float>)
    {
        *reinterpret_cast<float2*>(scores + o) = make_float2(sc[0], sc[1]);
    }
    else
    {
        TP_UNROLL
        for (int32_t s = 0; s < S; s += 2)
        {
            *reinterpret_cast<__half2*>(scores + o + s) = __floats2half2_rn(sc[s], sc[s + 1]);
        }
    }
}

template <int32_t S, typename T>
__global__ void __launch_bounds__(kThreads) upsampleArgmaxBlockKernel(T const* __restrict__ logits, int32_t n,
    int32_t channels, int32_t h, int32_t w, float invScale, int32_t* __restrict__ labels, T* __restrict__ scores)
{
    int64_t const cells = static_cast<int64_t>(h) * w;
    int64_t const items = blockItemCount(h, w, S);
    int64_t const total = items * n;
    int64_t const outW = static_cast<int64_t>(w) * S;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        int64_t const img = i / items;
        BlockItem const item = blockItem(i - img * items, h, w, S);
        T const* src = logits + img * channels * cells;
        int64_t const o = img * cells * S * S + static_cast<int64_t>(item.i) * S * outW + static_cast<int64_t>(item.g) * S;
        if (item.pixel < 0)
        {
            int32_t lab[S * S];
            float sc[S * S];
            upsampleArgmaxBlock<S>(src, channels, h, w, invScale, item.i, item.g, lab, sc);
            TP_UNROLL
            for (int32_t sy = 0; sy < S; ++sy)
            {
                storeRun<S>(labels, scores, o + sy * outW, lab + sy * S, sc + sy * S);
            }
        }
        else
        {
            int32_t const sy = item.pixel / S;
            int32_t const sx = item.pixel % S;
            float best = 0.f;
            int64_t const at = o + sy * outW + sx;
            labels[at] = upsampleArgmaxPixel(src, channels, h, w, invScale, S * item.i + sy, S * item.g + sx, &best);
            if (scores != nullptr)
            {
                scores[at] = fromFloat<T>(best);
            }
        }
    }
}

template <int32_t S, typename T>
__global__ void __launch_bounds__(kThreads) upsampleArgmaxGroupKernel(T const* __restrict__ logits, int32_t n,
    int32_t channels, int32_t h, int32_t w, float invScale, int32_t* __restrict__ labels, T* __restrict__ scores)
{
    int64_t const groupsPerImage = static_cast<int64_t>(h) * S * w;
    int64_t const total = groupsPerImage * n;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        int64_t const img = i / groupsPerImage;
        int32_t const rem = static_cast<int32_t>(i - img * groupsPerImage);
        int32_t const y = rem / w;
        int32_t const g = rem - y * w;
        int32_t lab[S];
        float sc[S];
        upsampleArgmaxGroup<S>(
            logits + img * channels * static_cast<int64_t>(h) * w, channels, h, w, invScale, y, g, lab, sc);
        int64_t const o = img * groupsPerImage * S + static_cast<int64_t>(y) * w * S + static_cast<int64_t>(g) * S;
        static_assert(S % 4 == 0, "the group kernel serves scale factor 8");
        TP_UNROLL
        for (int32_t s = 0; s < S; s += 4)
        {
            storeRun<4>(labels, scores, o + s, lab + s, sc + s);
        }
    }
}

int32_t gridFor(int64_t total)
{
    int64_t const blocks = (total + kThreads - 1) / kThreads;
    return static_cast<int32_t>(blocks < (1 << 20) ? blocks : (1 << 20));
}

template <typename T>
cudaError_t launch(T const* logits, int32_t n, int32_t channels, int32_t h, int32_t w, int32_t scale, int32_t* labels,
    T* scores, cudaStream_t stream)
{
    // the same rounding as PyTorch: float(1.0 / double(scale_factor))
    float const invScale = static_cast<float>(1.0 / static_cast<double>(scale));
    int64_t const groups = static_cast<int64_t>(n) * h * scale * w;
    switch (scale)
    {
    case 2:
        upsampleArgmaxBlockKernel<2, T><<<gridFor(n * blockItemCount(h, w, 2)), kThreads, 0, stream>>>(
            logits, n, channels, h, w, invScale, labels, scores);
        break;
    case 4:
        upsampleArgmaxBlockKernel<4, T><<<gridFor(n * blockItemCount(h, w, 4)), kThreads, 0, stream>>>(
            logits, n, channels, h, w, invScale, labels, scores);
        break;
    case 8:
        upsampleArgmaxGroupKernel<8, T>
            <<<gridFor(groups), kThreads, 0, stream>>>(logits, n, channels, h, w, invScale, labels, scores);
        break;
    default:
        upsampleArgmaxKernel<T><<<gridFor(groups * scale), kThreads, 0, stream>>>(
            logits, n, channels, h, w, scale, invScale, labels, scores);
    }
    return cudaGetLastError();
}

} // namespace

cudaError_t launchSemanticUpsampleArgmax(void const* logits, TensorType logitsType, int32_t n, int32_t channels,
    int32_t h, int32_t w, SemanticUpsampleArgmaxParams const& params, int32_t* labels, void* scores,
    cudaStream_t stream)
{
    if (n <= 0 || h <= 0 || w <= 0)
    {
        return cudaSuccess; // empty input: nothing to write
    }
    if (channels <= 0 || params.scale_factor <= 0)
    {
        return cudaErrorInvalidValue;
    }
    if (logitsType == TensorType::kFLOAT16)
    {
        return launch<__half>(static_cast<__half const*>(logits), n, channels, h, w, params.scale_factor, labels,
            static_cast<__half*>(scores), stream);
    }
    return launch<float>(static_cast<float const*>(logits), n, channels, h, w, params.scale_factor, labels,
        static_cast<float*>(scores), stream);
}

} // namespace trt_panoptic
