// PanopticFusion on the host: the sequential driver (fusion_host.h) over the kernel's per-pixel math and the creator's field parsing (fields.h).
// Part of the host library (see ../common/host_api.h): every function returns 0 on success, or non-zero
// with a one-line message in err.
#include "fields.h"
#include "fusion_host.h"
#include "../common/host_api.h"

#include <cstdint>
#include <vector>

using namespace trt_panoptic;
using namespace trt_panoptic::host;

extern "C"
{

//! PanopticFusion on the host, image by image. semLabels: [N, h, w] int32; maskProbs: [N, D, m, m] FP32;
//! boxes: [N, D, 4] FP32 XYXY pixels; scores: [N, D] FP32; classes: [N, D] int32; numDetections: [N] int32
//! (rows past it are ignored; nullptr = all D); validHW: [N, 2] int32 height and width of the frame inside
//! the padded input (nullptr = all of it). Outputs: panoptic [N, h, w] int32, table [N, S, 10] FP32,
//! numSegments [N] int32.
int32_t tp_panoptic_fusion_f32(int32_t const* semLabels, int32_t n, int32_t h, int32_t w, float const* maskProbs,
    int32_t d, int32_t m, float const* boxes, float const* scores, int32_t const* classes,
    int32_t const* numDetections, int32_t const* validHW, FusionRules const* params, int32_t* panoptic,
    float* table, int32_t maxSegments, int32_t* numSegments, int32_t numThreads, char* err, int32_t errLen)
{
    if (n < 0 || h <= 0 || w <= 0 || d < 0 || (d > 0 && m <= 0) || maxSegments < 0)
    {
        return fail(err, errLen, "panoptic_fusion: shapes should be positive (labels [N, h, w], masks [N, D, m, m])");
    }
    std::vector<int32_t> counts(static_cast<size_t>(n), 0);
    parallelFor(n, numThreads, [&](int64_t begin, int64_t end) {
        for (int64_t img = begin; img < end; ++img)
        {
            int32_t const dets = numDetections == nullptr ? d : clampInt(numDetections[img], 0, d);
            counts[static_cast<size_t>(img)] = panopticFusionHost(semLabels + img * h * w, h, w,
                maskProbs + img * d * m * m, m, boxes + img * d * 4, scores + img * d, classes + img * d, dets,
                *params, panoptic + img * h * w, table + img * maxSegments * kSegColumns, maxSegments,
                validHW == nullptr ? h : validHW[img * 2], validHW == nullptr ? w : validHW[img * 2 + 1]);
        }
    });
    for (int32_t img = 0; img < n; ++img)
    {
        if (counts[static_cast<size_t>(img)] < 0)
        {
            return fail(err, errLen, "panoptic_fusion: more segments than the table holds (" + std::to_string(maxSegments)
                + " rows) — size it detections + stuff classes");
        }
        numSegments[img] = counts[static_cast<size_t>(img)];
    }
    return 0;
}

//! Parses plugin fields exactly as the PanopticFusion creator does.
int32_t tp_panoptic_fusion_parse_fields(FieldView const* fields, int32_t nbFields, PanopticFusionParams* out,
    char* ignored, int32_t ignoredLen, char* err, int32_t errLen)
{
    return parseFields(panopticFusionFields(), fields, nbFields, out, ignored, ignoredLen, err, errLen);
}

//! The fields the PanopticFusion plugin serializes (pointing into *p); returns their number.
int32_t tp_panoptic_fusion_serialize_fields(PanopticFusionParams const* p, FieldView* out, int32_t capacity)
{
    return serializeFields(panopticFusionFields(), *p, out, capacity);
}

} // extern "C"
