// RoIAlignFPN TensorRT plugin. Inputs: rois [R, 4] (x1, y1, x2, y2, input pixels, image 0) or
// [R, 5] (batch index first), then P2, P3, P4, P5 [N, C, H/2^k, W/2^k]; output [R, C, P, P].
// FP32 or FP16 features (all four the same type, the output takes it), FP32 or FP16 rois, linear NCHW.
#include "plugin.h"

#include "kernel.h"

#include <exception>

namespace trt_panoptic
{
namespace
{

constexpr int32_t kNbInputs = 1 + kRoIAlignFPNNumLevels;

} // namespace

int32_t RoIAlignFPNPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != 1)
    {
        logError(std::string(kName) + ": should have 5 inputs (rois, P2..P5) and 1 output, got "
            + std::to_string(nbInputs) + " and " + std::to_string(nbOutputs));
        return 1;
    }
    nvinfer1::Dims const& rois = in[0].desc.dims;
    if (rois.nbDims != 2 || (rois.d[1] != 4 && rois.d[1] != 5 && rois.d[1] != -1))
    {
        logError(std::string(kName) + ": rois should be [R, 4] or [R, 5]");
        return 1;
    }
    for (int32_t l = 1; l < kNbInputs; ++l)
    {
        nvinfer1::Dims const& f = in[l].desc.dims;
        int64_t const c = f.d[1];
        int64_t const c2 = in[1].desc.dims.d[1];
        // -1 = not known at build time (dynamic); compare only known channel counts
        if (f.nbDims != 4 || (c >= 0 && c2 >= 0 && c != c2))
        {
            logError(std::string(kName) + ": P2..P5 should be [N, C, H, W] with the same C");
            return 1;
        }
    }
    (void) out;
    return 0;
}

int32_t RoIAlignFPNPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbOutputs != 1 || nbInputs != kNbInputs)
    {
        return 1;
    }
    outputTypes[0] = inputTypes[1]; // pooled features take the feature type
    return 0;
}

int32_t RoIAlignFPNPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /* shapeInputs */, int32_t /* nbShapeInputs */, nvinfer1::DimsExprs* outputs,
    int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != 1 || inputs[0].nbDims != 2 || inputs[1].nbDims != 4)
    {
        logError(std::string(kName) + ": expects rois [R, 4|5] and P2..P5 [N, C, H, W]");
        return 1;
    }
    outputs[0].nbDims = 4;
    outputs[0].d[0] = inputs[0].d[0];
    outputs[0].d[1] = inputs[1].d[1];
    outputs[0].d[2] = exprBuilder.constant(mParams.output_size);
    outputs[0].d[3] = exprBuilder.constant(mParams.output_size);
    return 0;
}

bool RoIAlignFPNPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != 1 || pos < 0 || pos >= kNbInputs + 1)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& d = inOut[pos].desc;
    if (d.format != nvinfer1::TensorFormat::kLINEAR || !isFloatType(d.type))
    {
        return false;
    }
    // RoIs are FP32 only: box coordinates in FP16 are off by up to 0.5 px at 1000 px (and areas overflow
    // past 65504 px^2), so a weakly typed FP16 build must keep the box math that feeds them in FP32.
    // P3..P5 and the output follow P2's type.
    if (pos == 0)
    {
        return d.type == nvinfer1::DataType::kFLOAT;
    }
    return pos == 1 || d.type == inOut[1].desc.type;
}

int32_t RoIAlignFPNPlugin::getNbOutputs() const noexcept
{
    return 1;
}

int32_t RoIAlignFPNPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /* out */, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != 1 || in[0].dims.nbDims != 2
        || (in[0].dims.d[1] != 4 && in[0].dims.d[1] != 5))
    {
        logError(std::string(kName) + ": rois should be [R, 4] or [R, 5]");
        return 1;
    }
    return 0;
}

int32_t RoIAlignFPNPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /* outputDesc */, void const* const* inputs, void* const* outputs,
    void* /* workspace */, cudaStream_t stream) noexcept
{
    try
    {
        nvinfer1::Dims const& rois = inputDesc[0].dims;
        nvinfer1::Dims const& p2 = inputDesc[1].dims;
        int32_t heights[kRoIAlignFPNNumLevels];
        int32_t widths[kRoIAlignFPNNumLevels];
        for (int32_t l = 0; l < kRoIAlignFPNNumLevels; ++l)
        {
            heights[l] = static_cast<int32_t>(inputDesc[1 + l].dims.d[2]);
            widths[l] = static_cast<int32_t>(inputDesc[1 + l].dims.d[3]);
        }
        cudaError_t const status = launchRoIAlignFPN(inputs[0], toTensorType(inputDesc[0].type),
            static_cast<int32_t>(rois.d[0]), static_cast<int32_t>(rois.d[1]), inputs + 1,
            toTensorType(inputDesc[1].type), heights, widths, static_cast<int32_t>(p2.d[0]),
            static_cast<int32_t>(p2.d[1]), mParams, outputs[0], stream);
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
