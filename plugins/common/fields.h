// Plugin-field parsing that does not depend on TensorRT.
//
// plugin.cpp turns nvinfer1::PluginField entries into FieldView (mapping PluginFieldType by name,
// never by number) and calls the per-plugin parser in <plugin>/fields.h; the host library calls the
// same parser, so the CPU tests exercise the exact validation and serialization the plugin uses.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace trt_panoptic
{

//! The field types this project reads; anything else is kOTHER and rejected with a message.
enum class FieldKind : int32_t
{
    kINT8 = 0,
    kINT16 = 1,
    kINT32 = 2,
    kINT64 = 3,
    kFLOAT32 = 4,
    kOTHER = 5,
};

//! One plugin field, as TensorRT hands it over (name, type, data, number of elements).
struct FieldView
{
    char const* name;
    FieldKind kind;
    void const* data;
    int32_t length;
};

//! Reads one integer scalar; returns false and fills err on a wrong type or length.
inline bool readIntField(FieldView const& f, int64_t& out, std::string& err)
{
    if (f.data == nullptr || f.length != 1)
    {
        err = std::string("field ") + f.name + " should be one integer, got length " + std::to_string(f.length);
        return false;
    }
    switch (f.kind)
    {
    case FieldKind::kINT8: out = *static_cast<int8_t const*>(f.data); return true;
    case FieldKind::kINT16: out = *static_cast<int16_t const*>(f.data); return true;
    case FieldKind::kINT32: out = *static_cast<int32_t const*>(f.data); return true;
    case FieldKind::kINT64: out = *static_cast<int64_t const*>(f.data); return true;
    default:
        err = std::string("field ") + f.name + " should be an integer (INT32 in the ONNX attribute), got another type";
        return false;
    }
}

//! Reads an integer field and checks lo <= value <= hi.
inline bool readIntInRange(FieldView const& f, int64_t lo, int64_t hi, int32_t& out, std::string& err)
{
    int64_t v = 0;
    if (!readIntField(f, v, err))
    {
        return false;
    }
    if (v < lo || v > hi)
    {
        err = std::string("field ") + f.name + " should be in [" + std::to_string(lo) + ", " + std::to_string(hi)
            + "], got " + std::to_string(v);
        return false;
    }
    out = static_cast<int32_t>(v);
    return true;
}

//! True for the attributes the ONNX parser itself consumes; they may reach the creator and are skipped.
inline bool isParserField(char const* name)
{
    return std::strcmp(name, "plugin_version") == 0 || std::strcmp(name, "plugin_namespace") == 0;
}

} // namespace trt_panoptic
