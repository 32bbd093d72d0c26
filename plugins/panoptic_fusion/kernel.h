// PanopticFusion launcher: the one entry point plugin.cpp (compiled by the C++ compiler) calls.
#pragma once

#include "../common/tensor_type.h"
#include "kernel.cuh"

#include <cuda_runtime_api.h>

namespace trt_panoptic
{

//! Pastes and fuses every image of the batch, one thread block per image (kernel.cuh has the rules).
//! semLabels: device int32 [n, h, w]; maskProbs: device [n, d, m, m] of maskType (m <= kFusionMaxMask);
//! boxes: device FP32 [n, d, 4] XYXY input pixels; scores: device FP32 [n, d]; classes: device int32 [n, d];
//! numDetections: device int32 [n]; validHW: device int32 [n, 2] (frame height, width inside the input).
//! Outputs: panoptic int32 [n, h, w], table FP32 [n, d + numStuff, 10], numSegments int32 [n].
//! d <= kFusionMaxDetections and numStuff < kFusionMaxLabels, else cudaErrorInvalidValue.
cudaError_t launchPanopticFusion(int32_t const* semLabels, int32_t n, int32_t h, int32_t w, void const* maskProbs,
    TensorType maskType, int32_t d, int32_t m, float const* boxes, float const* scores, int32_t const* classes,
    int32_t const* numDetections, int32_t const* validHW, FusionRules const& rules, int32_t numStuff, int32_t* panoptic,
    float* table, int32_t* numSegments, cudaStream_t stream);

} // namespace trt_panoptic
