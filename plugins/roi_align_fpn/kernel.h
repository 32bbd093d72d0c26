// RoIAlignFPN launcher: the one entry point plugin.cpp (compiled by the C++ compiler) calls.
#pragma once

#include "../common/tensor_type.h"
#include "kernel.cuh"

#include <cuda_runtime_api.h>

namespace trt_panoptic
{

//! Pools every RoI from its FPN level in one launch.
//! rois: device [numRois, roiCols] (roiCols 4: x1,y1,x2,y2 of image 0; 5: batch index first), input pixels.
//! features[l]: device P(l+2) [batch, channels, heights[l], widths[l]] of featureType.
//! output: device [numRois, channels, P, P] of featureType. Returns the launch error, if any.
cudaError_t launchRoIAlignFPN(void const* rois, TensorType roisType, int32_t numRois, int32_t roiCols,
    void const* const* features, TensorType featureType, int32_t const* heights, int32_t const* widths, int32_t batch,
    int32_t channels, RoIAlignFPNParams const& params, void* output, cudaStream_t stream);

} // namespace trt_panoptic
