// RoIAlignFPN fields: names, ranges, members — parsed and serialized by ../common/fields.h.
#pragma once

#include "../common/fields.h"
#include "kernel.cuh"

#include <array>

namespace trt_panoptic
{

//! The fields = ONNX attributes of the RoIAlignFPN node, in serialization order, with their accepted ranges.
inline std::array<IntField<RoIAlignFPNParams>, 5> const& roiAlignFPNFields()
{
    using P = RoIAlignFPNParams;
    static std::array<IntField<P>, 5> const fields{{
        {"output_size", 1, 1024, &P::output_size},
        {"sampling_ratio", 0, 64, &P::sampling_ratio},
        {"aligned", 0, 1, &P::aligned},
        {"canonical_box_size", 1, 1 << 20, &P::canonical_box_size},
        {"canonical_level", 0, 16, &P::canonical_level},
    }};
    return fields;
}

} // namespace trt_panoptic
