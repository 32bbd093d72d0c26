// TensorRT-side helpers shared by the plugins: logging through the logger TensorRT hands over
// (setLoggerFinder), PluginField <-> FieldView conversion, DataType -> TensorType.
#pragma once

#include "NvInferRuntime.h"
#include "fields.h"
#include "tensor_type.h"

#include <string>
#include <vector>

namespace trt_panoptic
{

//! The namespace every plugin of this library registers under.
constexpr char const* kPluginNamespace = "trt_panoptic";

//! Logs msg through TensorRT's logger (when setLoggerFinder gave one); never throws.
void logMessage(nvinfer1::ILogger::Severity severity, std::string const& msg) noexcept;

inline void logError(std::string const& msg) noexcept
{
    logMessage(nvinfer1::ILogger::Severity::kERROR, msg);
}

inline void logWarning(std::string const& msg) noexcept
{
    logMessage(nvinfer1::ILogger::Severity::kWARNING, msg);
}

//! PluginFieldType -> FieldKind, by name (never by number: TensorRT may renumber enums).
inline FieldKind toFieldKind(nvinfer1::PluginFieldType t)
{
    switch (t)
    {
    case nvinfer1::PluginFieldType::kINT8: return FieldKind::kINT8;
    case nvinfer1::PluginFieldType::kINT16: return FieldKind::kINT16;
    case nvinfer1::PluginFieldType::kINT32: return FieldKind::kINT32;
    case nvinfer1::PluginFieldType::kINT64: return FieldKind::kINT64;
    case nvinfer1::PluginFieldType::kFLOAT32: return FieldKind::kFLOAT32;
    default: return FieldKind::kOTHER;
    }
}

//! The fields of a collection as FieldViews (pointing into fc).
inline std::vector<FieldView> toFieldViews(nvinfer1::PluginFieldCollection const* fc)
{
    std::vector<FieldView> views;
    if (fc == nullptr)
    {
        return views;
    }
    for (int32_t i = 0; i < fc->nbFields; ++i)
    {
        nvinfer1::PluginField const& f = fc->fields[i];
        views.push_back(FieldView{f.name, toFieldKind(f.type), f.data, f.length});
    }
    return views;
}

//! FieldViews (INT32 or FLOAT32) -> PluginFields for getFieldsToSerialize / getFieldNames.
template <typename Views>
inline void toPluginFields(Views const& views, std::vector<nvinfer1::PluginField>& out, bool withData)
{
    out.clear();
    for (FieldView const& v : views)
    {
        nvinfer1::PluginFieldType const type
            = v.kind == FieldKind::kFLOAT32 ? nvinfer1::PluginFieldType::kFLOAT32 : nvinfer1::PluginFieldType::kINT32;
        out.emplace_back(v.name, withData ? v.data : nullptr, type, v.length);
    }
}

//! True for the element types the kernels take (FP32, FP16).
inline bool isFloatType(nvinfer1::DataType t)
{
    return t == nvinfer1::DataType::kFLOAT || t == nvinfer1::DataType::kHALF;
}

inline TensorType toTensorType(nvinfer1::DataType t)
{
    return t == nvinfer1::DataType::kHALF ? TensorType::kFLOAT16 : TensorType::kFLOAT32;
}

} // namespace trt_panoptic
