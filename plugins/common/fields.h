// Plugin-field parsing that does not depend on TensorRT.
//
// plugin.cpp turns nvinfer1::PluginField entries into FieldView (mapping PluginFieldType by name,
// never by number) and calls the per-plugin parser in <plugin>/fields.h; the host library calls the
// same parser, so the CPU tests exercise the exact validation and serialization the plugin uses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

//! The decimal a FLOAT32 field stands for: the shortest decimal that rounds to it, as a double (0.7f → 0.7,
//! not 0.699999988). ONNX attributes and plugin fields carry thresholds in float32, while the reference
//! compares with the Python float the user wrote: 7 taken pixels of 10 are not "more than 0.7", but they are
//! more than 0.7f. (std::to_chars would do this in one call, but not with GCC 9, JetPack 5's compiler.)
inline double decimalValue(float v)
{
    char buf[32];
    // the fewest significant digits that round-trip; 9 always do
    for (int digits = 1; digits <= 9; ++digits)
    {
        std::snprintf(buf, sizeof(buf), "%.*g", digits, static_cast<double>(v));
        double const d = std::strtod(buf, nullptr);
        if (static_cast<float>(d) == v)
        {
            return d;
        }
    }
    return static_cast<double>(v);
}

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

//! Reads one FLOAT32 scalar and checks lo <= value <= hi (a NaN is out of range).
inline bool readFloatInRange(FieldView const& f, float lo, float hi, float& out, std::string& err)
{
    if (f.data == nullptr || f.length != 1 || f.kind != FieldKind::kFLOAT32)
    {
        err = std::string("field ") + f.name + " should be one FLOAT32 (a float ONNX attribute)";
        return false;
    }
    float const v = *static_cast<float const*>(f.data);
    if (!(v >= lo && v <= hi))
    {
        err = std::string("field ") + f.name + " should be in [" + std::to_string(lo) + ", " + std::to_string(hi)
            + "], got " + std::to_string(v);
        return false;
    }
    out = v;
    return true;
}

//! True for the attributes the ONNX parser itself consumes; they may reach the creator and are skipped.
inline bool isParserField(char const* name)
{
    return std::strcmp(name, "plugin_version") == 0 || std::strcmp(name, "plugin_namespace") == 0;
}

//! One INT32 field of a plugin: its name (= the ONNX attribute), accepted range, and the member of Params it sets.
template <typename Params>
struct IntField
{
    char const* name;
    int64_t lo;
    int64_t hi;
    int32_t Params::*member;
};

//! One FLOAT32 field of a plugin: its name (= the ONNX attribute), accepted range, and the member it sets.
template <typename Params>
struct FloatField
{
    char const* name;
    float lo;
    float hi;
    float Params::*member;
};

//! The fields of a plugin that has float fields too: integers first, then floats (serialization order).
template <typename Params, size_t NI, size_t NF>
struct FieldTable
{
    std::array<IntField<Params>, NI> ints;
    std::array<FloatField<Params>, NF> floats;
};

//! Fills p from the fields as spec describes them (absent fields keep their defaults). Unknown names are
//! appended to ignored (the caller logs them); a nameless field, a wrong type or an out-of-range value
//! returns false with err.
template <typename Params, size_t N>
bool parseIntFields(std::array<IntField<Params>, N> const& spec, FieldView const* fields, int32_t nbFields,
    Params& p, std::string& err, std::vector<std::string>* ignored)
{
    for (int32_t i = 0; i < nbFields; ++i)
    {
        FieldView const& f = fields[i];
        if (f.name == nullptr)
        {
            err = "a field has no name";
            return false;
        }
        IntField<Params> const* match = nullptr;
        for (IntField<Params> const& s : spec)
        {
            if (std::strcmp(f.name, s.name) == 0)
            {
                match = &s;
                break;
            }
        }
        if (match != nullptr)
        {
            if (!readIntInRange(f, match->lo, match->hi, p.*(match->member), err))
            {
                return false;
            }
        }
        else if (!isParserField(f.name) && ignored != nullptr)
        {
            ignored->emplace_back(f.name);
        }
    }
    return true;
}

//! parseIntFields for a table with float fields: each field goes to the integer or the float spec by name.
template <typename Params, size_t NI, size_t NF>
bool parseIntFields(FieldTable<Params, NI, NF> const& spec, FieldView const* fields, int32_t nbFields, Params& p,
    std::string& err, std::vector<std::string>* ignored)
{
    std::vector<FieldView> ints;
    for (int32_t i = 0; i < nbFields; ++i)
    {
        FieldView const& f = fields[i];
        FloatField<Params> const* match = nullptr;
        for (FloatField<Params> const& s : spec.floats)
        {
            if (f.name != nullptr && std::strcmp(f.name, s.name) == 0)
            {
                match = &s;
            }
        }
        if (match == nullptr)
        {
            ints.push_back(f);
        }
        else if (!readFloatInRange(f, match->lo, match->hi, p.*(match->member), err))
        {
            return false;
        }
    }
    return parseIntFields(spec.ints, ints.data(), static_cast<int32_t>(ints.size()), p, err, ignored);
}

//! The fields that reproduce p, in spec order, pointing into p (valid while p lives); all INT32 scalars.
template <typename Params, size_t N>
std::array<FieldView, N> intFieldsToSerialize(std::array<IntField<Params>, N> const& spec, Params const& p)
{
    std::array<FieldView, N> out{};
    for (size_t k = 0; k < N; ++k)
    {
        out[k] = FieldView{spec[k].name, FieldKind::kINT32, &(p.*(spec[k].member)), 1};
    }
    return out;
}

//! intFieldsToSerialize for a table with float fields: the INT32 fields, then the FLOAT32 ones.
template <typename Params, size_t NI, size_t NF>
std::array<FieldView, NI + NF> intFieldsToSerialize(FieldTable<Params, NI, NF> const& spec, Params const& p)
{
    std::array<FieldView, NI + NF> out{};
    auto const ints = intFieldsToSerialize(spec.ints, p);
    for (size_t k = 0; k < NI; ++k)
    {
        out[k] = ints[k];
    }
    for (size_t k = 0; k < NF; ++k)
    {
        out[NI + k] = FieldView{spec.floats[k].name, FieldKind::kFLOAT32, &(p.*(spec.floats[k].member)), 1};
    }
    return out;
}

} // namespace trt_panoptic
