// SemanticUpsampleArgmax TensorRT plugin. Input: logits [N, C, h, w] (FP32 or FP16, linear NCHW);
// outputs: labels [N, s*h, s*w] INT32 and, with with_score=1, the winning upsampled logit
// [N, s*h, s*w] in the logits' type. Bilinear x s (align_corners=False) and argmax are fused.
#include "plugin.h"

#include "kernel.h"

#include <exception>

namespace trt_panoptic
{
int32_t SemanticUpsampleArgmaxPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /* out */, int32_t nbOutputs) noexcept
{
    if (nbInputs != 1 || nbOutputs != getNbOutputs() || in[0].desc.dims.nbDims != 4)
    {
        logError(std::string(kName) + ": should have 1 input logits [N, C, h, w] and " + std::to_string(getNbOutputs())
            + " output(s) (with_score=" + std::to_string(mParams.with_score) + ")");
        return 1;
    }
    return 0;
}

int32_t SemanticUpsampleArgmaxPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != 1 || nbOutputs != getNbOutputs())
    {
        return 1;
    }
    outputTypes[0] = nvinfer1::DataType::kINT32;
    if (mParams.with_score)
    {
        outputTypes[1] = inputTypes[0];
    }
    return 0;
}

int32_t SemanticUpsampleArgmaxPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /* shapeInputs */, int32_t /* nbShapeInputs */, nvinfer1::DimsExprs* outputs,
    int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != 1 || nbOutputs != getNbOutputs() || inputs[0].nbDims != 4)
    {
        logError(std::string(kName) + ": expects logits [N, C, h, w]");
        return 1;
    }
    nvinfer1::IDimensionExpr const* scale = exprBuilder.constant(mParams.scale_factor);
    for (int32_t o = 0; o < nbOutputs; ++o)
    {
        outputs[o].nbDims = 3;
        outputs[o].d[0] = inputs[0].d[0];
        outputs[o].d[1] = exprBuilder.operation(nvinfer1::DimensionOperation::kPROD, *inputs[0].d[2], *scale);
        outputs[o].d[2] = exprBuilder.operation(nvinfer1::DimensionOperation::kPROD, *inputs[0].d[3], *scale);
    }
    return 0;
}

bool SemanticUpsampleArgmaxPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != 1 || nbOutputs != getNbOutputs() || pos < 0 || pos >= 1 + nbOutputs)
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
    case 0: return isFloatType(d.type);
    case 1: return d.type == nvinfer1::DataType::kINT32;
    default: return d.type == inOut[0].desc.type; // score in the logits' type
    }
}

int32_t SemanticUpsampleArgmaxPlugin::getNbOutputs() const noexcept
{
    return mParams.with_score ? 2 : 1;
}

int32_t SemanticUpsampleArgmaxPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /* out */, int32_t nbOutputs) noexcept
{
    if (nbInputs != 1 || nbOutputs != getNbOutputs() || in[0].dims.nbDims != 4)
    {
        logError(std::string(kName) + ": expects logits [N, C, h, w]");
        return 1;
    }
    return 0;
}

int32_t SemanticUpsampleArgmaxPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* /* outputDesc */, void const* const* inputs, void* const* outputs,
    void* /* workspace */, cudaStream_t stream) noexcept
{
    try
    {
        nvinfer1::Dims const& d = inputDesc[0].dims;
        cudaError_t const status = launchSemanticUpsampleArgmax(inputs[0], toTensorType(inputDesc[0].type),
            static_cast<int32_t>(d.d[0]), static_cast<int32_t>(d.d[1]), static_cast<int32_t>(d.d[2]),
            static_cast<int32_t>(d.d[3]), mParams, static_cast<int32_t*>(outputs[0]),
            mParams.with_score ? outputs[1] : nullptr, stream);
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
