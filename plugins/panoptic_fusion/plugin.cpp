// PanopticFusion TensorRT plugin. Inputs: sem_labels INT32 [N, H, W]; mask_probs [N, D, M, M] (FP32 or FP16);
// boxes FP32 [N, D, 4]; scores FP32 [N, D]; classes INT32 [N, D]; num_detections INT32 [N]; valid_hw
// INT32 [N, 2]. Outputs: panoptic INT32 [N, H, W]; segments FP32 [N, D + num_stuff, 10];
// num_segments INT32 [N]. Box coordinates and scores stay FP32 whatever the network's precision.
#include "plugin.h"

#include "kernel.h"

#include <exception>

namespace trt_panoptic
{
namespace
{

// input positions
constexpr int32_t kLabels = 0;
constexpr int32_t kMasks = 1;
constexpr int32_t kBoxes = 2;
constexpr int32_t kScores = 3;
constexpr int32_t kClasses = 4;
constexpr int32_t kNumDetections = 5;
constexpr int32_t kValidHW = 6;

//! a == b, where -1 (a dimension not known yet, at build time) agrees with anything.
bool sameDim(int64_t a, int64_t b)
{
    return a < 0 || b < 0 || a == b;
}

//! Ranks, and the dimensions the kernel relies on: one N everywhere, one D for masks, boxes, scores and
//! classes (the table is sized from the boxes, the loop from the masks), square masks, 4 box coordinates.
bool shapesOk(nvinfer1::Dims const* d, int32_t nbInputs)
{
    if (nbInputs != PanopticFusionPlugin::kNbInputs || d[kLabels].nbDims != 3 || d[kMasks].nbDims != 4
        || d[kBoxes].nbDims != 3 || d[kScores].nbDims != 2 || d[kClasses].nbDims != 2 || d[kNumDetections].nbDims != 1
        || d[kValidHW].nbDims != 2)
    {
        return false;
    }
    int64_t const n = d[kLabels].d[0];
    int64_t const dets = d[kBoxes].d[1];
    for (int32_t i : {kMasks, kBoxes, kScores, kClasses, kNumDetections, kValidHW})
    {
        if (!sameDim(d[i].d[0], n))
        {
            return false;
        }
    }
    return sameDim(d[kMasks].d[1], dets) && sameDim(d[kScores].d[1], dets) && sameDim(d[kClasses].d[1], dets)
        && sameDim(d[kMasks].d[2], d[kMasks].d[3]) && sameDim(d[kBoxes].d[2], 4) && sameDim(d[kValidHW].d[1], 2);
}

} // namespace

int32_t PanopticFusionPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /* out */, int32_t nbOutputs) noexcept
{
    nvinfer1::Dims dims[kNbInputs];
    for (int32_t i = 0; i < nbInputs && i < kNbInputs; ++i)
    {
        dims[i] = in[i].desc.dims;
    }
    if (nbOutputs != kNbOutputs || !shapesOk(dims, nbInputs))
    {
        logError(std::string(kName) + ": should have 7 inputs (sem_labels [N,H,W], mask_probs [N,D,M,M], boxes "
            "[N,D,4], scores [N,D], classes [N,D], num_detections [N], valid_hw [N,2]; one N, one D, square masks) "
            "and 3 outputs");
        return 1;
    }
    return 0;
}

int32_t PanopticFusionPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* /* inputTypes */, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs)
    {
        return 1;
    }
    outputTypes[0] = nvinfer1::DataType::kINT32;
    outputTypes[1] = nvinfer1::DataType::kFLOAT;
    outputTypes[2] = nvinfer1::DataType::kINT32;
    return 0;
}

int32_t PanopticFusionPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /* shapeInputs */, int32_t /* nbShapeInputs */, nvinfer1::DimsExprs* outputs,
    int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || inputs[kLabels].nbDims != 3 || inputs[kBoxes].nbDims != 3)
    {
        logError(std::string(kName) + ": expects sem_labels [N, H, W] and boxes [N, D, 4]");
        return 1;
    }
    outputs[0] = inputs[kLabels];
    outputs[1].nbDims = 3;
    outputs[1].d[0] = inputs[kLabels].d[0];
    outputs[1].d[1] = exprBuilder.operation(
        nvinfer1::DimensionOperation::kSUM, *inputs[kBoxes].d[1], *exprBuilder.constant(mParams.num_stuff));
    outputs[1].d[2] = exprBuilder.constant(kSegColumns);
    outputs[2].nbDims = 1;
    outputs[2].d[0] = inputs[kLabels].d[0];
    return 0;
}

bool PanopticFusionPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || pos < 0 || pos >= kNbInputs + kNbOutputs)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& d = inOut[pos].desc;
    if (d.format != nvinfer1::TensorFormat::kLINEAR)
    {
        return false;
    }
    switch (pos)
    {
    case kMasks: return isFloatType(d.type);
    case kBoxes:
    case kScores:
    case kNbInputs + 1: return d.type == nvinfer1::DataType::kFLOAT; // box math and the table in FP32 only
    default: return d.type == nvinfer1::DataType::kINT32;           // labels, classes, counts, sizes, the map
    }
}

int32_t PanopticFusionPlugin::getNbOutputs() const noexcept
{
    return kNbOutputs;
}

int32_t PanopticFusionPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /* out */, int32_t nbOutputs) noexcept
{
    nvinfer1::Dims dims[kNbInputs];
    for (int32_t i = 0; i < nbInputs && i < kNbInputs; ++i)
    {
        dims[i] = in[i].dims;
    }
    if (nbOutputs != kNbOutputs || !shapesOk(dims, nbInputs))
    {
        logError(std::string(kName) + ": input shapes should be sem_labels [N,H,W], mask_probs [N,D,M,M], boxes [N,D,4], "
            "scores [N,D], classes [N,D], num_detections [N], valid_hw [N,2]");
        return 1;
    }
    if (in[kBoxes].dims.d[1] > kFusionMaxDetections || in[kMasks].dims.d[3] > kFusionMaxMask)
    {
        logError(std::string(kName) + ": supports at most " + std::to_string(kFusionMaxDetections)
            + " detections and masks up to " + std::to_string(kFusionMaxMask) + "x" + std::to_string(kFusionMaxMask));
        return 1;
    }
    return 0;
}

int32_t PanopticFusionPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /* outputDesc */, void const* const* inputs, void* const* outputs,
    void* /* workspace */, cudaStream_t stream) noexcept
{
    try
    {
        nvinfer1::Dims const& labels = inputDesc[kLabels].dims;
        nvinfer1::Dims const& masks = inputDesc[kMasks].dims;
        cudaError_t const status = launchPanopticFusion(static_cast<int32_t const*>(inputs[kLabels]),
            static_cast<int32_t>(labels.d[0]), static_cast<int32_t>(labels.d[1]), static_cast<int32_t>(labels.d[2]),
            inputs[kMasks], toTensorType(inputDesc[kMasks].type), static_cast<int32_t>(masks.d[1]),
            static_cast<int32_t>(masks.d[3]), static_cast<float const*>(inputs[kBoxes]),
            static_cast<float const*>(inputs[kScores]), static_cast<int32_t const*>(inputs[kClasses]),
            static_cast<int32_t const*>(inputs[kNumDetections]), static_cast<int32_t const*>(inputs[kValidHW]),
            fusionRules(mParams), mParams.num_stuff,
            static_cast<int32_t*>(outputs[0]), static_cast<float*>(outputs[1]), static_cast<int32_t*>(outputs[2]),
            stream);
        if (status != cudaSuccess)
        {
            logError(std::string(kName) + ": kernel launch failed: " + cudaGetErrorString(status));
            return 1;
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        logError(std::string(kName) + ": enqueue failed: " + e.what());
    }
    return 1;
}

} // namespace trt_panoptic
