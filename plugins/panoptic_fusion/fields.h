// PanopticFusion fields: names, ranges, members — parsed and serialized by ../common/fields.h.
#pragma once

#include "../common/fields.h"
#include "kernel.cuh"

#include <array>

namespace trt_panoptic
{

//! The fields = ONNX attributes of the PanopticFusion node, in serialization order, with their ranges.
inline FieldTable<PanopticFusionParams, 2, 3> const& panopticFusionFields()
{
    using P = PanopticFusionParams;
    static FieldTable<P, 2, 3> const fields{
        {{
            {"stuff_area_limit", 0, 1LL << 30, &P::stuff_area_limit},
            {"num_stuff", 0, kFusionMaxLabels - 1, &P::num_stuff},
        }},
        {{
            {"instance_score_thresh", 0.f, 1.f, &P::instance_score_thresh},
            {"overlap_thresh", 0.f, 1.f, &P::overlap_thresh},
            {"mask_threshold", 0.f, 1.f, &P::mask_threshold},
        }},
    };
    return fields;
}

//! The rules the kernels apply for these fields: thresholds as the decimals they stand for.
inline FusionRules fusionRules(PanopticFusionParams const& p)
{
    return FusionRules{decimalValue(p.instance_score_thresh), decimalValue(p.overlap_thresh), p.stuff_area_limit,
        p.mask_threshold};
}

} // namespace trt_panoptic
