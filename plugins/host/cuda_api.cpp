// C entry points to the CUDA launchers without TensorRT, for the GPU check (benchmarks/gpu_check.sh):
// Python passes device pointers (torch CUDA tensors' data_ptr()) and a stream through ctypes.
// Every function returns the cudaError_t of the launch (0 = success).
#include "../panoptic_fusion/fields.h"
#include "../panoptic_fusion/kernel.h"
#include "../roi_align_fpn/kernel.h"
#include "../semantic_upsample_argmax/kernel.h"

#include <cstdint>

using namespace trt_panoptic;

extern "C"
{

//! See launchRoIAlignFPN; isHalf: 0 = FP32, 1 = FP16 (features and output), roisHalf likewise for rois.
int32_t tp_cuda_roi_align_fpn(void const* rois, int32_t roisHalf, int32_t numRois, int32_t roiCols,
    void const* const* features, int32_t isHalf, int32_t const* heights, int32_t const* widths, int32_t batch,
    int32_t channels, RoIAlignFPNParams const* params, void* output, void* stream)
{
    return static_cast<int32_t>(launchRoIAlignFPN(rois, roisHalf ? TensorType::kFLOAT16 : TensorType::kFLOAT32,
        numRois, roiCols, features, isHalf ? TensorType::kFLOAT16 : TensorType::kFLOAT32, heights, widths, batch,
        channels, *params, output, static_cast<cudaStream_t>(stream)));
}

//! See launchSemanticUpsampleArgmax; scores may be null.
int32_t tp_cuda_semantic_upsample_argmax(void const* logits, int32_t isHalf, int32_t n, int32_t channels, int32_t h,
    int32_t w, SemanticUpsampleArgmaxParams const* params, int32_t* labels, void* scores, void* stream)
{
    return static_cast<int32_t>(launchSemanticUpsampleArgmax(logits, isHalf ? TensorType::kFLOAT16 : TensorType::kFLOAT32,
        n, channels, h, w, *params, labels, scores, static_cast<cudaStream_t>(stream)));
}

//! See launchPanopticFusion; maskHalf: 0 = FP32 mask probabilities, 1 = FP16.
int32_t tp_cuda_panoptic_fusion(int32_t const* semLabels, int32_t n, int32_t h, int32_t w, void const* maskProbs,
    int32_t maskHalf, int32_t d, int32_t m, float const* boxes, float const* scores, int32_t const* classes,
    int32_t const* numDetections, int32_t const* validHW, PanopticFusionParams const* params, int32_t* panoptic,
    float* table, int32_t* numSegments, void* stream)
{
    return static_cast<int32_t>(launchPanopticFusion(semLabels, n, h, w, maskProbs,
        maskHalf ? TensorType::kFLOAT16 : TensorType::kFLOAT32, d, m, boxes, scores, classes, numDetections, validHW,
        fusionRules(*params), params->num_stuff, panoptic, table, numSegments, static_cast<cudaStream_t>(stream)));
}

} // extern "C"
