// RoIAlignFPN field parsing and serialization, free of TensorRT (see ../common/fields.h).
#pragma once

#include "../common/fields.h"
#include "kernel.cuh"

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace trt_panoptic
{

//! Field names = ONNX attribute names of the RoIAlignFPN node, in serialization order.
inline std::array<char const*, 5> const& roiAlignFPNFieldNames()
{
    static std::array<char const*, 5> const names{
        "output_size", "sampling_ratio", "aligned", "canonical_box_size", "canonical_level"};
    return names;
}

//! Fills p from the fields (absent fields keep their defaults). Unknown names are appended to
//! ignored (the caller logs them); the first wrong type or out-of-range value returns false + err.
inline bool parseRoIAlignFPNFields(
    FieldView const* fields, int32_t nbFields, RoIAlignFPNParams& p, std::string& err, std::vector<std::string>* ignored)
{
    for (int32_t i = 0; i < nbFields; ++i)
    {
        FieldView const& f = fields[i];
        if (f.name == nullptr)
        {
            err = "a field has no name";
            return false;
        }
        bool ok = true;
        if (std::strcmp(f.name, "output_size") == 0)
        {
            ok = readIntInRange(f, 1, 1024, p.output_size, err);
        }
        else if (std::strcmp(f.name, "sampling_ratio") == 0)
        {
            ok = readIntInRange(f, 0, 64, p.sampling_ratio, err);
        }
        else if (std::strcmp(f.name, "aligned") == 0)
        {
            ok = readIntInRange(f, 0, 1, p.aligned, err);
        }
        else if (std::strcmp(f.name, "canonical_box_size") == 0)
        {
            ok = readIntInRange(f, 1, 1 << 20, p.canonical_box_size, err);
        }
        else if (std::strcmp(f.name, "canonical_level") == 0)
        {
            ok = readIntInRange(f, 0, 16, p.canonical_level, err);
        }
        else if (!isParserField(f.name) && ignored != nullptr)
        {
            ignored->emplace_back(f.name);
        }
        if (!ok)
        {
            return false;
        }
    }
    return true;
}

//! The fields that reproduce p, pointing into p (valid while p lives); all INT32 scalars.
inline std::array<FieldView, 5> roiAlignFPNFieldsToSerialize(RoIAlignFPNParams const& p)
{
    auto const& n = roiAlignFPNFieldNames();
    return {FieldView{n[0], FieldKind::kINT32, &p.output_size, 1},
        FieldView{n[1], FieldKind::kINT32, &p.sampling_ratio, 1}, FieldView{n[2], FieldKind::kINT32, &p.aligned, 1},
        FieldView{n[3], FieldKind::kINT32, &p.canonical_box_size, 1},
        FieldView{n[4], FieldKind::kINT32, &p.canonical_level, 1}};
}

} // namespace trt_panoptic
