// SemanticUpsampleArgmax CUDA kernel: one thread per output pixel loops over the classes, reading
// the four 1/s-scale neighbours of each and keeping only the running maximum. Neighbouring threads
// read neighbouring (mostly identical) inputs, so the logits come from DRAM about once.
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
cudaError_t launch(T const* logits, int32_t n, int32_t channels, int32_t h, int32_t w, int32_t scale, int32_t* labels,
    T* scores, cudaStream_t stream)
{
    int64_t const total = static_cast<int64_t>(n) * h * scale * w * scale;
    int64_t const blocks = (total + kThreads - 1) / kThreads;
    int32_t const grid = static_cast<int32_t>(blocks < (1 << 20) ? blocks : (1 << 20));
    // the same rounding as PyTorch: float(1.0 / double(scale_factor))
    float const invScale = static_cast<float>(1.0 / static_cast<double>(scale));
    upsampleArgmaxKernel<T><<<grid, kThreads, 0, stream>>>(logits, n, channels, h, w, scale, invScale, labels, scores);
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
