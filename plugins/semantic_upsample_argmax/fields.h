// SemanticUpsampleArgmax fields: names, ranges, members — parsed and serialized by ../common/fields.h.
#pragma once

#include "../common/fields.h"
#include "kernel.cuh"

#include <array>

namespace trt_panoptic
{

//! The fields = ONNX attributes of the SemanticUpsampleArgmax node, in serialization order, with their ranges.
inline std::array<IntField<SemanticUpsampleArgmaxParams>, 2> const& semanticUpsampleArgmaxFields()
{
    using P = SemanticUpsampleArgmaxParams;
    static std::array<IntField<P>, 2> const fields{{
        {"scale_factor", 1, 64, &P::scale_factor},
        {"with_score", 0, 1, &P::with_score},
    }};
    return fields;
}

} // namespace trt_panoptic
