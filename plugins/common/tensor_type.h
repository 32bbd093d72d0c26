// Element types the launchers accept; plugin.cpp maps nvinfer1::DataType onto them by name.
#pragma once

#include <cstdint>

namespace trt_panoptic
{

enum class TensorType : int32_t
{
    kFLOAT32 = 0,
    kFLOAT16 = 1,
};

} // namespace trt_panoptic
