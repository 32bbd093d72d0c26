// SemanticUpsampleArgmax field parsing and serialization, free of TensorRT (see ../common/fields.h).
#pragma once

#include "../common/fields.h"
#include "kernel.cuh"

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace trt_panoptic
{

//! Field names = ONNX attribute names of the SemanticUpsampleArgmax node, in serialization order.
inline std::array<char const*, 2> const& semanticUpsampleArgmaxFieldNames()
{
    static std::array<char const*, 2> const names{"scale_factor", "with_score"};
    return names;
}

//! Fills p from the fields (absent fields keep their defaults); see parseRoIAlignFPNFields.
inline bool parseSemanticUpsampleArgmaxFields(FieldView const* fields, int32_t nbFields,
    SemanticUpsampleArgmaxParams& p, std::string& err, std::vector<std::string>* ignored)
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
        if (std::strcmp(f.name, "scale_factor") == 0)
        {
            ok = readIntInRange(f, 1, 64, p.scale_factor, err);
        }
        else if (std::strcmp(f.name, "with_score") == 0)
        {
            ok = readIntInRange(f, 0, 1, p.with_score, err);
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
inline std::array<FieldView, 2> semanticUpsampleArgmaxFieldsToSerialize(SemanticUpsampleArgmaxParams const& p)
{
    auto const& n = semanticUpsampleArgmaxFieldNames();
    return {FieldView{n[0], FieldKind::kINT32, &p.scale_factor, 1}, FieldView{n[1], FieldKind::kINT32, &p.with_score, 1}};
}

} // namespace trt_panoptic
