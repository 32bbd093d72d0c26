// What every IPluginV3 plugin of this library and its creator share: capability lookup, clone,
// name/version/namespace, fields serialized through the plugin's IntField table, attachToContext, and
// the whole IPluginCreatorV3One. A plugin derives from PluginV3Base<Self, Params> and supplies kName,
// kVersion, fields() and its own shape, type, format and enqueue methods; its creator is
// PluginCreatorV3<Self>.
#pragma once

#include "fields.h"
#include "plugin_utils.h"

#include "NvInferRuntime.h"

#include <exception>
#include <string>
#include <vector>

namespace trt_panoptic
{

template <typename Derived, typename ParamsT>
class PluginV3Base : public nvinfer1::IPluginV3,
                     public nvinfer1::IPluginV3OneCore,
                     public nvinfer1::IPluginV3OneBuild,
                     public nvinfer1::IPluginV3OneRuntime
{
public:
    using Params = ParamsT;

    explicit PluginV3Base(Params const& params)
        : mParams(params)
    {
    }

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override
    {
        switch (type)
        {
        case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
        case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
        case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
        }
        return nullptr;
    }

    nvinfer1::IPluginV3* clone() noexcept override
    {
        try
        {
            return new Derived(mParams);
        }
        catch (std::exception const& e)
        {
            logError(std::string(Derived::kName) + ": clone failed: " + e.what());
        }
        return nullptr;
    }

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override
    {
        return Derived::kName;
    }

    char const* getPluginVersion() const noexcept override
    {
        return Derived::kVersion;
    }

    char const* getPluginNamespace() const noexcept override
    {
        return kPluginNamespace;
    }

    // IPluginV3OneRuntime
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* /* context */) noexcept override
    {
        return clone(); // no per-context resources
    }

    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override
    {
        try
        {
            toPluginFields(intFieldsToSerialize(Derived::fields(), mParams), mSerialized, true);
            mSerializedFC.nbFields = static_cast<int32_t>(mSerialized.size());
            mSerializedFC.fields = mSerialized.data();
            return &mSerializedFC;
        }
        catch (std::exception const& e)
        {
            logError(std::string(Derived::kName) + ": getFieldsToSerialize failed: " + e.what());
        }
        return nullptr;
    }

protected:
    Params mParams;

private:
    std::vector<nvinfer1::PluginField> mSerialized;
    nvinfer1::PluginFieldCollection mSerializedFC{};
};

//! The creator of Plugin: its fields (with defaults) for getFieldNames, and createPlugin parsing them.
template <typename Plugin>
class PluginCreatorV3 : public nvinfer1::IPluginCreatorV3One
{
public:
    PluginCreatorV3()
    {
        toPluginFields(intFieldsToSerialize(Plugin::fields(), mDefaults), mFields, false);
        mFC.nbFields = static_cast<int32_t>(mFields.size());
        mFC.fields = mFields.data();
    }

    char const* getPluginName() const noexcept override
    {
        return Plugin::kName;
    }

    char const* getPluginVersion() const noexcept override
    {
        return Plugin::kVersion;
    }

    char const* getPluginNamespace() const noexcept override
    {
        return kPluginNamespace;
    }

    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override
    {
        return &mFC;
    }

    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase /* phase */) noexcept override
    {
        try
        {
            std::vector<FieldView> const views = toFieldViews(fc);
            typename Plugin::Params params;
            std::string err;
            std::vector<std::string> ignored;
            if (!parseIntFields(Plugin::fields(), views.data(), static_cast<int32_t>(views.size()), params, err, &ignored))
            {
                logError(std::string(Plugin::kName) + " '" + (name ? name : "") + "': " + err);
                return nullptr;
            }
            for (auto const& f : ignored)
            {
                logWarning(std::string(Plugin::kName) + ": ignoring unknown field " + f);
            }
            return new Plugin(params);
        }
        catch (std::exception const& e)
        {
            logError(std::string(Plugin::kName) + ": createPlugin failed: " + e.what());
        }
        return nullptr;
    }

private:
    typename Plugin::Params mDefaults;
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mFC{};
};

} // namespace trt_panoptic
