// Greedy non-maximum suppression on the host, for the eager model on the CPU (trt_panoptic/ops/boxes.py
// batched_nms). Not a plugin's math: engines use TensorRT's own NMS layer, and the export twin's fixed-shape
// NMS is tensor work. It lives in the host library because the library is the project's one C++ build for
// the CPU. Returns 0 on success, or non-zero with a one-line message in err (see ../common/host_api.h).
#include "../common/host_api.h"

#include <algorithm>
#include <cstdint>

using namespace trt_panoptic::host;

extern "C"
{

//! Greedy NMS within each group, torchvision's rule. boxes: [n, 4] FP32 XYXY in ranked order (the caller
//! sorts: by group, then by decreasing score, ties in input order); groupStarts: [numGroups + 1] offsets of
//! each group's run in that order. keep: [n] out, 1 where the ranked box is kept. A box is suppressed by a
//! kept better-ranked box of its group when inter / (area_i + area_j - inter) > iouThreshold, in FP32 in
//! that order of operations (what ops.boxes.nms computes, so both keep the same boxes); a NaN IoU suppresses
//! nothing. Work is O(n * kept) per group: an IoU is computed only against boxes still in the running.
int32_t tp_nms_f32(float const* boxes, int64_t n, int64_t const* groupStarts, int64_t numGroups,
    float iouThreshold, uint8_t* keep, char* err, int32_t errLen)
{
    if (n < 0 || numGroups < 0 || groupStarts[0] != 0 || groupStarts[numGroups] != n)
    {
        return fail(err, errLen, "nms: group offsets should run from 0 to the number of boxes");
    }
    std::fill(keep, keep + n, uint8_t{1});
    for (int64_t g = 0; g < numGroups; ++g)
    {
        int64_t const begin = groupStarts[g];
        int64_t const end = groupStarts[g + 1];
        if (end < begin)
        {
            return fail(err, errLen, "nms: group offsets should not decrease");
        }
        for (int64_t i = begin; i < end; ++i)
        {
            if (!keep[i])
            {
                continue;
            }
            float const* a = boxes + 4 * i;
            float const areaA = (a[2] - a[0]) * (a[3] - a[1]);
            for (int64_t j = i + 1; j < end; ++j)
            {
                if (!keep[j])
                {
                    continue;
                }
                float const* b = boxes + 4 * j;
                float const areaB = (b[2] - b[0]) * (b[3] - b[1]);
                float const w = std::max(std::min(a[2], b[2]) - std::max(a[0], b[0]), 0.0F);
                float const h = std::max(std::min(a[3], b[3]) - std::max(a[1], b[1]), 0.0F);
                float const inter = w * h;
                if (inter / (areaA + areaB - inter) > iouThreshold)
                {
                    keep[j] = 0;
                }
            }
        }
    }
    return 0;
}

} // extern "C"
