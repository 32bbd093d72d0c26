// RoIAlignFPN CUDA kernel: one thread per output element (RoI, channel, bin), level chosen per RoI
// inside the kernel, so all four pyramid levels are pooled by a single launch. The math is
// kernel.cuh's (the host library runs the same functions).
#include "kernel.h"

#include <cuda_fp16.h>

namespace trt_panoptic
{
namespace
{

constexpr int32_t kThreads = 256;

//! features.<field>[level] with selects, not an indexed load: an indexed kernel parameter would be
//! copied to local memory (a stack frame) in every thread.
template <typename V>
__device__ __forceinline__ V selectLevel(V const (&values)[kRoIAlignFPNNumLevels], int32_t level)
{
    return level == 0 ? values[0] : (level == 1 ? values[1] : (level == 2 ? values[2] : values[3]));
}

template <typename T, typename R>
__global__ void __launch_bounds__(kThreads) roiAlignFPNKernel(R const* __restrict__ rois, int32_t numRois,
    int32_t roiCols, FeatureLevels<T> features, int32_t batch, int32_t channels, RoIAlignFPNParams params,
    T* __restrict__ output)
{
    int32_t const pooled = params.output_size;
    int64_t const total = static_cast<int64_t>(numRois) * channels * pooled * pooled;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        int32_t const pw = static_cast<int32_t>(i % pooled);
        int32_t const ph = static_cast<int32_t>((i / pooled) % pooled);
        int32_t const c = static_cast<int32_t>((i / (pooled * pooled)) % channels);
        int64_t const r = i / (static_cast<int64_t>(pooled) * pooled * channels);
        R const* roi = rois + r * roiCols;
        R const* box = roi + (roiCols - 4);
        int32_t const b = roiBatchIndex(roi, roiCols, batch);
        if (b < 0)
        {
            output[i] = fromFloat<T>(0.f);
            continue;
        }
        RoIGeometry const g
            = roiGeometry(toFloat(box[0]), toFloat(box[1]), toFloat(box[2]), toFloat(box[3]), params);
        int32_t const h = selectLevel(features.height, g.level);
        int32_t const w = selectLevel(features.width, g.level);
        T const* plane = selectLevel(features.data, g.level) + (static_cast<int64_t>(b) * channels + c) * h * w;
        output[i] = fromFloat<T>(roiAlignBin(plane, h, w, g, ph, pw));
    }
}

template <typename T, typename R>
cudaError_t launch(R const* rois, int32_t numRois, int32_t roiCols, void const* const* features,
    int32_t const* heights, int32_t const* widths, int32_t batch, int32_t channels, RoIAlignFPNParams const& params,
    T* output, cudaStream_t stream)
{
    FeatureLevels<T> f;
    for (int32_t l = 0; l < kRoIAlignFPNNumLevels; ++l)
    {
        f.data[l] = static_cast<T const*>(features[l]);
        f.height[l] = heights[l];
        f.width[l] = widths[l];
    }
    int64_t const total = static_cast<int64_t>(numRois) * channels * params.output_size * params.output_size;
    // grid-stride loop: cap the grid, every thread then covers several elements
    int64_t const blocks = (total + kThreads - 1) / kThreads;
    int32_t const grid = static_cast<int32_t>(blocks < (1 << 20) ? blocks : (1 << 20));
    roiAlignFPNKernel<T, R><<<grid, kThreads, 0, stream>>>(rois, numRois, roiCols, f, batch, channels, params, output);
    return cudaGetLastError();
}

template <typename T>
cudaError_t dispatchRois(void const* rois, TensorType roisType, int32_t numRois, int32_t roiCols,
    void const* const* features, int32_t const* heights, int32_t const* widths, int32_t batch, int32_t channels,
    RoIAlignFPNParams const& params, void* output, cudaStream_t stream)
{
    T* out = static_cast<T*>(output);
    if (roisType == TensorType::kFLOAT16)
    {
        return launch<T, __half>(static_cast<__half const*>(rois), numRois, roiCols, features, heights, widths, batch,
            channels, params, out, stream);
    }
    return launch<T, float>(static_cast<float const*>(rois), numRois, roiCols, features, heights, widths, batch,
        channels, params, out, stream);
}

} // namespace

cudaError_t launchRoIAlignFPN(void const* rois, TensorType roisType, int32_t numRois, int32_t roiCols,
    void const* const* features, TensorType featureType, int32_t const* heights, int32_t const* widths, int32_t batch,
    int32_t channels, RoIAlignFPNParams const& params, void* output, cudaStream_t stream)
{
    if (numRois <= 0 || channels <= 0)
    {
        return cudaSuccess; // empty input: nothing to write
    }
    if (roiCols != 4 && roiCols != 5)
    {
        return cudaErrorInvalidValue;
    }
    if (featureType == TensorType::kFLOAT16)
    {
        return dispatchRois<__half>(
            rois, roisType, numRois, roiCols, features, heights, widths, batch, channels, params, output, stream);
    }
    return dispatchRois<float>(
        rois, roisType, numRois, roiCols, features, heights, widths, batch, channels, params, output, stream);
}

} // namespace trt_panoptic
