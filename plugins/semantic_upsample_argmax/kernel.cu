// SemanticUpsampleArgmax CUDA kernels. For s = 2, 4, 8 one thread computes s consecutive output
// pixels of a row (upsampleArgmaxGroup: 6 loads per class for s pixels, running maxima in registers);
// other scale factors run one thread per pixel (upsampleArgmaxPixel). Neighbouring threads read
// neighbouring inputs, so the logits come from DRAM about once; the C x H x W tensor never exists.
#include "kernel.h"

#include <cuda_fp16.h>

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

template <typename T>
__device__ __forceinline__ void storeGroup4(int32_t* labels, T* scores, int64_t o, int32_t const* lab, float const* sc)
{
    // o is a multiple of 4 and rows hold 4*w pixels: 16-byte aligned for the int4 store
    *reinterpret_cast<int4*>(labels + o) = make_int4(lab[0], lab[1], lab[2], lab[3]);
    if (scores != nullptr)
    {
        for (int32_t s = 0; s < 4; ++s)
        {
            scores[o + s] = fromFloat<T>(sc[s]);
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
        if constexpr (S == 4)
        {
            storeGroup4(labels, scores, o, lab, sc);
        }
        else
        {
            for (int32_t s = 0; s < S; ++s)
            {
                labels[o + s] = lab[s];
                if (scores != nullptr)
                {
                    scores[o + s] = fromFloat<T>(sc[s]);
                }
            }
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
        upsampleArgmaxGroupKernel<2, T>
            <<<gridFor(groups), kThreads, 0, stream>>>(logits, n, channels, h, w, invScale, labels, scores);
        break;
    case 4:
        upsampleArgmaxGroupKernel<4, T>
            <<<gridFor(groups), kThreads, 0, stream>>>(logits, n, channels, h, w, invScale, labels, scores);
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
