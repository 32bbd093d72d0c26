// SemanticUpsampleArgmax launcher: the one entry point plugin.cpp (compiled by the C++ compiler) calls.
#pragma once

#include "../common/tensor_type.h"
#include "kernel.cuh"

#include <cuda_runtime_api.h>

namespace trt_panoptic
{

//! labels[n, y, x] = argmax_c of the bilinearly upsampled logits, fused (no C x H x W buffer).
//! logits: device [n, channels, h, w] of logitsType; labels: device int32 [n, s*h, s*w];
//! scores: device [n, s*h, s*w] of logitsType (the winning upsampled logit) or nullptr.
cudaError_t launchSemanticUpsampleArgmax(void const* logits, TensorType logitsType, int32_t n, int32_t channels,
    int32_t h, int32_t w, SemanticUpsampleArgmaxParams const& params, int32_t* labels, void* scores,
    cudaStream_t stream);

} // namespace trt_panoptic
