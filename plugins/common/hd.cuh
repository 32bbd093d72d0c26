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

//! a * b, a + b, a - b, a / b, each rounded once (round to nearest) and never fused into an FMA by nvcc,
//! so device code that uses them rounds exactly as the host build (compiled with -ffp-contract=off).
TP_HD float mulRn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

TP_HD float addRn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

TP_HD float subRn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

TP_HD float divRn(float a, float b)
{
#if defined(__CUDA_ARCH__)
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

//! True for a finite value (not ±inf, not NaN): v - v is 0 exactly then, NaN otherwise.
TP_HD bool isFiniteValue(float v)
{
    return subRn(v, v) == 0.f;
}

} // namespace trt_panoptic
