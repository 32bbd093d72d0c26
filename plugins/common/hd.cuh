// Marks the per-element math so that one header compiles for the GPU (nvcc) and for the host
// library (g++ alone, no CUDA headers): the CPU tests then run the very code the kernels run.
#pragma once

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define TP_HD __host__ __device__ __forceinline__
#else
#define TP_HD inline
#endif

namespace trt_panoptic
{

// Loads are converted to FP32 at once: all accumulation happens in FP32 whatever the tensor type.
TP_HD float toFloat(float v)
{
    return v;
}

#if defined(__CUDACC__)
TP_HD float toFloat(__half v)
{
    return __half2float(v);
}
#endif

template <typename T>
TP_HD T fromFloat(float v);

template <>
TP_HD float fromFloat<float>(float v)
{
    return v;
}

#if defined(__CUDACC__)
template <>
TP_HD __half fromFloat<__half>(float v)
{
    return __float2half_rn(v);
}
#endif

} // namespace trt_panoptic
