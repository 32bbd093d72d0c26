// Marks the per-element math so that one header compiles for the GPU (nvcc) and for the host
// library (g++ alone, no CUDA headers): the CPU tests then run the very code the kernels run.
#pragma once

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define TP_HD __host__ __device__ __forceinline__
// loops over a compile-time size: unrolled so that the arrays they index stay in registers
#define TP_UNROLL _Pragma("unroll")
// loops with independent loads per iteration: 4 in flight at once instead of one latency each
#define TP_UNROLL4 _Pragma("unroll 4")
#define TP_UNROLL2 _Pragma("unroll 2")
#else
#define TP_HD inline
#define TP_UNROLL
#define TP_UNROLL4
#define TP_UNROLL2
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
