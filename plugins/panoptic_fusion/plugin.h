// PanopticFusion TensorRT plugin (IPluginV3: OneCore + OneBuild + OneRuntime) and its creator.
#pragma once

#include "../common/plugin_base.h"
#include "fields.h"

#include "NvInferRuntime.h"

namespace trt_panoptic
{

class PanopticFusionPlugin : public PluginV3Base<PanopticFusionPlugin, PanopticFusionParams>
{
public:
    static constexpr char const* kName = "PanopticFusion";
    static constexpr char const* kVersion = "1";
    //! Inputs: sem_labels, mask_probs, boxes, scores, classes, num_detections, valid_hw.
    static constexpr int32_t kNbInputs = 7;
    //! Outputs: panoptic, segments, num_segments.
    static constexpr int32_t kNbOutputs = 3;

    static auto const& fields()
    {
        return panopticFusionFields();
    }

    using PluginV3Base::PluginV3Base;

    // IPluginV3OneBuild
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t getNbOutputs() const noexcept override;

    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
};

using PanopticFusionPluginCreator = PluginCreatorV3<PanopticFusionPlugin>;

} // namespace trt_panoptic
