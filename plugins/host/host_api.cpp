// Host (CPU) library of the plugin kernels' math, built with the C++ compiler alone and loaded from
// Python by ctypes (trt_panoptic/plugins/host.py). It runs the same per-element functions
// (kernel.cuh) and the same field parsing (fields.h) as the CUDA kernels and the TensorRT plugins,
// so CPU tests check the code that runs on the GPU. Every function returns 0 on success, or
// non-zero with a one-line message in err.
//
// This file holds what is not a plugin's: the ABI version and the decimal reading of float fields. Each
// plugin's functions are in its own folder (<plugin>/host_api.cpp), compiled into the same library.
#include "../common/host_api.h"

#include <cstdint>

using namespace trt_panoptic;

namespace
{

//! Bumped whenever a signature below changes; host.py refuses a library of another version.
constexpr int32_t kAbiVersion = 8;

} // namespace

extern "C"
{

int32_t tp_abi_version()
{
    return kAbiVersion;
}

//! The decimal a FLOAT32 plugin field stands for (common/fields.h decimalValue), for the Python twin's tests.
double tp_decimal_value(float v)
{
    return decimalValue(v);
}

} // extern "C"
